#include "store/clickhouse/analytics_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

#include "core/log.h"
#include "store/clickhouse/client.h"
#include "store/clickhouse/schema.h"
#include "store/metadata.h"

namespace rend::store::clickhouse {

namespace {

constexpr std::chrono::milliseconds kHealthTimeout{2000};
constexpr int64_t kMaxDateTime = 4294967295;  // DateTime is a UInt32 of unix seconds

// Unix seconds for a DateTime column or comparison, clamped to what the type holds.
int64_t to_datetime(int64_t ms) {
  int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);  // floor
  return std::clamp<int64_t>(s, 0, kMaxDateTime);
}

// RowBinary, ClickHouse's own row encoding: little-endian fixed-width numbers and
// length-prefixed strings, so there is no text to escape here or to parse there.
// Measured on 18.16 it costs ClickHouse about half the CPU per row of JSONEachRow,
// and ClickHouse's CPU is what limits ingest when it shares a small host with the API.
static_assert(std::endian::native == std::endian::little, "RowBinary numbers are little-endian");

// The writers are packed_rows.h's: packed telemetry rows are RowBinary already.
using store::put_packed_fixed;
using store::put_packed_string;

int64_t to_int(const std::string& s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    throw StoreError("clickhouse: unexpected number in response: " + s.substr(0, 40));
  return v;
}

double to_double(const std::string& s) {
  // quantile() of nothing is "nan"; summaries never report one.
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) throw StoreError("clickhouse: unexpected number in response: " + s.substr(0, 40));
  return std::isfinite(v) ? v : 0;
}

void expect_columns(const std::vector<std::string>& row, size_t n) {
  if (row.size() != n)
    throw StoreError("clickhouse: expected " + std::to_string(n) + " columns, got " + std::to_string(row.size()));
}

class ClickHouseAnalyticsStore final : public AnalyticsStore {
 public:
  ClickHouseAnalyticsStore(const ClickHouseConfig& config, std::shared_ptr<const core::Clock> clock)
      : client_(config),
        clock_(clock ? std::move(clock) : std::make_shared<core::SystemClock>()),
        database_(config.database),
        table_(config.database + ".playback_events") {
    if (!valid_identifier(database_))
      throw std::invalid_argument("clickhouse: database name must match [A-Za-z_][A-Za-z0-9_]*");
  }

  void ensure_schema() override {
    // The HTTP interface runs one statement per request; every statement in the file
    // is IF NOT EXISTS, so re-running all of them on each start is safe, and two
    // processes starting together both succeed.
    auto statements = schema_statements(embedded_schema_sql(), database_);
    for (const auto& stmt : statements) client_.query(stmt);
    add_ingested_at();
    core::log::info("clickhouse_schema_ensured", {{"database", database_}, {"statements", int64_t(statements.size())}});
  }

  bool healthy() override {
    try {
      return client_.query("EXISTS TABLE " + table_ + " FORMAT TabSeparated", kHealthTimeout) == "1\n";
    } catch (const StoreError&) {
      return false;
    }
  }

  void insert(const std::vector<PlaybackEvent>& events) override {
    if (events.empty()) return;
    // The batch's ingest time. A replayed event_id gets a later one on its new row;
    // every query takes the minimum per event_id, so the first ingestion stands.
    const int64_t ingested_at_ms = clock_->now_unix_ms();
    // One POST per batch: ClickHouse wants few large inserts (each one is a part on
    // disk), and the batch then lands or fails as a whole for the edge to retry.
    // The column list fixes the RowBinary field order; the types must match schema.sql.
    std::string body;
    body.reserve(events.size() * 260);
    for (const auto& e : events) {
      put_packed_string(body, e.event_id);
      put_packed_string(body, e.batch_id);
      put_packed_fixed(body, uint32_t(to_datetime(e.ts_ms)));  // DateTime: UInt32 unix seconds
      put_packed_fixed(body, int64_t(e.ts_ms));
      put_packed_string(body, e.edge_id);
      put_packed_string(body, e.region);
      put_packed_string(body, e.asset_id);
      put_packed_string(body, e.artifact);
      put_packed_string(body, e.kind);
      put_packed_string(body, e.tier);
      put_packed_string(body, e.session_id);
      put_packed_fixed(body, int32_t(e.status));
      put_packed_fixed(body, int64_t(e.bytes));
      put_packed_string(body, e.cache);
      put_packed_fixed(body, int64_t(e.ttfb_ms));
      put_packed_fixed(body, int64_t(e.duration_ms));
      // A NaN or infinite media duration is bogus; it counts as none.
      put_packed_fixed(body, std::isfinite(e.media_seconds) ? e.media_seconds : 0.0);
      put_packed_fixed(body, int64_t(ingested_at_ms));
    }
    client_.insert("INSERT INTO " + table_ +
                       " (event_id, batch_id, ts, ts_ms, edge_id, region, asset_id, artifact, kind, tier, session_id, "
                       "status, bytes, cache, ttfb_ms, duration_ms, media_seconds, ingested_at_ms) FORMAT RowBinary",
                   body);
  }

  // Rows as the telemetry wire carries them (store/packed_rows.h) are already RowBinary
  // for the first fifteen columns: each is copied as it is (one memcpy per row, the
  // only copy between the edge's body and ClickHouse), then the three per-insert
  // columns are appended. The column list names that order.
  void insert_packed(const std::vector<PackedRows>& batches) override {
    size_t bytes = 0, rows = 0;
    for (const auto& b : batches) {
      bytes += b.rows.size() + b.count * (b.batch_id.size() + 1 + 4 + 8);
      rows += b.count;
    }
    if (rows == 0) return;
    const int64_t ingested_at_ms = clock_->now_unix_ms();
    std::string body;
    body.reserve(bytes);
    for (const auto& b : batches) {
      // The batch_id's RowBinary bytes, once per batch: appended to each of its rows.
      std::string batch_id;
      put_packed_string(batch_id, b.batch_id);
      RowReader r(b.rows);
      for (size_t i = 0; i < b.count; ++i) {
        const char* start = r.pos();
        RowReader head = r;  // event_id, then ts_ms: the source of the ts column
        std::string_view event_id;
        int64_t ts_ms = 0;
        if (!head.str(event_id, ~uint64_t(0)) || !head.fixed(ts_ms) || !skip_rows(r, 1))
          throw StoreError("clickhouse: packed rows are truncated");
        body.append(start, size_t(r.pos() - start));
        body += batch_id;
        put_packed_fixed(body, uint32_t(to_datetime(ts_ms)));
        put_packed_fixed(body, ingested_at_ms);
      }
      if (r.left()) throw StoreError("clickhouse: packed rows have trailing bytes");
    }
    client_.insert("INSERT INTO " + table_ +
                       " (event_id, ts_ms, edge_id, region, asset_id, artifact, kind, tier, session_id, status, bytes, "
                       "cache, ttfb_ms, duration_ms, media_seconds, batch_id, ts, ingested_at_ms) FORMAT RowBinary",
                   body);
  }

  std::optional<UsageSummary> asset_summary(const std::string& asset_id, int64_t from_ms, int64_t to_ms) override {
    std::string events = deduplicated("asset_id = " + quote(asset_id), from_ms, to_ms);
    auto rows =
        parse_tsv(client_.query("SELECT " + std::string(kTotals) + " FROM (" + events + ") FORMAT TabSeparated"));
    if (rows.size() != 1) throw StoreError("clickhouse: asset summary returned no row");
    expect_columns(rows[0], 7);
    UsageSummary u;
    u.key = asset_id;
    read_totals(rows[0], 0, u);
    if (u.requests == 0) return std::nullopt;
    for (auto& row : parse_tsv(client_.query("SELECT t, " + std::string(kMinutes) + " FROM (" + events + ") WHERE " +
                                             std::string(kDelivered) + " GROUP BY t ORDER BY t FORMAT TabSeparated"))) {
      expect_columns(row, 2);
      u.delivered_minutes.push_back({std::move(row[0]), to_double(row[1])});
    }
    return u;
  }

  std::vector<UsageSummary> edge_summaries(int64_t from_ms, int64_t to_ms) override {
    std::string events = deduplicated("1", from_ms, to_ms);
    std::vector<UsageSummary> out;
    std::map<std::string, size_t> index;
    // An edge belongs to one region; max() just makes the choice deterministic should
    // an edge ever be moved within the range.
    for (auto& row : parse_tsv(client_.query("SELECT e, max(r), " + std::string(kTotals) + " FROM (" + events +
                                             ") GROUP BY e ORDER BY e FORMAT TabSeparated"))) {
      expect_columns(row, 9);
      UsageSummary u;
      u.key = std::move(row[0]);
      u.region = std::move(row[1]);
      read_totals(row, 2, u);
      index[u.key] = out.size();
      out.push_back(std::move(u));
    }
    if (out.empty()) return out;
    for (auto& row :
         parse_tsv(client_.query("SELECT e, t, " + std::string(kMinutes) + " FROM (" + events + ") WHERE " +
                                 std::string(kDelivered) + " GROUP BY e, t ORDER BY e, t FORMAT TabSeparated"))) {
      expect_columns(row, 3);
      // Rows inserted between the two queries may name an edge the first one did not
      // see; their minutes wait for the next call rather than appear without totals.
      auto it = index.find(row[0]);
      if (it == index.end()) continue;
      out[it->second].delivered_minutes.push_back({std::move(row[1]), to_double(row[2])});
    }
    return out;
  }

  std::vector<AssetDelivery> delivered_seconds(int64_t from_ingest_ms, int64_t to_ingest_ms) override {
    std::vector<AssetDelivery> out;
    if (from_ingest_ms >= to_ingest_ms) return out;
    const std::string window = std::string(kIngest) + " >= " + std::to_string(from_ingest_ms) + " AND " +
                               std::string(kIngest) + " < " + std::to_string(to_ingest_ms) + " AND " +
                               std::string(kBillable);
    // First the event times of the rows stored in the window: a quiet window ends
    // here, and the next query reads only that range of event time. Every row of an
    // event_id carries the same ts_ms (a replay is the same event), so the range holds
    // all rows of every event in the window, and ts (the partition and second sort-key
    // column) lets ClickHouse skip the rest of the table.
    auto stats = parse_tsv(client_.query("SELECT count(), min(ts_ms), max(ts_ms) FROM " + table_ + " WHERE " + window +
                                         " FORMAT TabSeparated"));
    if (stats.size() != 1) throw StoreError("clickhouse: delivered seconds returned no row");
    expect_columns(stats[0], 3);
    if (to_int(stats[0][0]) == 0) return out;
    const int64_t ts_lo = to_int(stats[0][1]), ts_hi = to_int(stats[0][2]);
    // The first ingestion is the minimum over ALL of an event's rows, never just over
    // the window's: a replay's row lies in a later window than the event's first.
    // Rows at or after `to` cannot bring a minimum below `to`, so they are skipped;
    // HAVING keeps the events whose first ingestion is at or after `from`.
    const std::string sql = "SELECT a, sum(ms), count() FROM (SELECT event_id, min(" + std::string(kIngest) +
                            ") AS fi, any(asset_id) AS a, any(media_seconds) AS ms FROM " + table_ +
                            " WHERE ts_ms >= " + std::to_string(ts_lo) + " AND ts_ms <= " + std::to_string(ts_hi) +
                            " AND ts >= toDateTime(" + std::to_string(to_datetime(ts_lo)) + ") AND ts <= toDateTime(" +
                            std::to_string(to_datetime(ts_hi)) + ") AND event_id IN (SELECT event_id FROM " + table_ +
                            " WHERE " + window + ") AND " + std::string(kBillable) + " AND " + std::string(kIngest) +
                            " < " + std::to_string(to_ingest_ms) +
                            " GROUP BY event_id HAVING fi >= " + std::to_string(from_ingest_ms) +
                            ") GROUP BY a ORDER BY a FORMAT TabSeparated";
    for (auto& row : parse_tsv(client_.query(sql))) {
      expect_columns(row, 3);
      out.push_back({std::move(row[0]), to_double(row[1]), to_int(row[2])});
    }
    return out;
  }

  std::optional<int64_t> earliest_unbilled_ingest_ms(int64_t from_ingest_ms) override {
    // The earliest billable row at or after `from` is either the answer or a replay
    // of an event first ingested before `from` (then every row at that time is one,
    // and none of them is new usage). Grouping the whole table by event_id would say
    // which in one query, but costs seconds per million rows; instead, step over
    // replay times one at a time, each a cheap scan plus a one-millisecond window.
    // Replays are rare; past kMaxSteps of them the replay time reached is returned: no event
    // has its first ingestion in [from, it), so a window may start there safely.
    constexpr int kMaxSteps = 64;
    int64_t at = from_ingest_ms;
    for (int step = 0;; ++step) {
      auto rows = parse_tsv(client_.query("SELECT count(), min(" + std::string(kIngest) + ") FROM " + table_ +
                                          " WHERE " + std::string(kIngest) + " >= " + std::to_string(at) + " AND " +
                                          std::string(kBillable) + " FORMAT TabSeparated"));
      if (rows.size() != 1) throw StoreError("clickhouse: earliest ingest returned no row");
      expect_columns(rows[0], 2);
      // min() of no rows is 0 on 18.16, not NULL: the count tells them apart.
      if (to_int(rows[0][0]) == 0) return std::nullopt;
      const int64_t first = to_int(rows[0][1]);
      if (step == kMaxSteps || !delivered_seconds(first, first + 1).empty()) return first;
      at = first + 1;
    }
  }

 private:
  // Brings a table created before ingest times to schema.sql's shape, in steps that
  // each check the current state first, so a crash between them or two processes
  // starting together converge (the loser's ALTER fails; the re-check sees it done).
  // 18.16 refuses a new sort-key column with a default, hence add, then set the default.
  void add_ingested_at() {
    auto column = [&]() -> std::optional<std::string> {
      auto rows =
          parse_tsv(client_.query("SELECT default_expression FROM system.columns WHERE database = " + quote(database_) +
                                  " AND table = 'playback_events' AND name = 'ingested_at_ms' "
                                  "FORMAT TabSeparated"));
      if (rows.empty()) return std::nullopt;
      expect_columns(rows[0], 1);
      return rows[0][0];
    };
    auto alter = [&](const std::string& sql, auto done) {
      try {
        client_.query(sql);
      } catch (const StoreError&) {
        if (!done()) throw;
      }
    };
    auto current = column();
    if (!current) {
      // Until the default is set below, old rows read 0; queries treat 0 as ts_ms.
      alter("ALTER TABLE " + table_ +
                " ADD COLUMN ingested_at_ms Int64, MODIFY ORDER BY (asset_id, ts, event_id, ingested_at_ms)",
            [&] { return column().has_value(); });
      current = column();
      core::log::info("clickhouse_column_added", {{"table", table_}, {"column", "ingested_at_ms"}});
    }
    if (current && current->empty()) {
      alter("ALTER TABLE " + table_ + " MODIFY COLUMN ingested_at_ms Int64 DEFAULT ts_ms", [&] {
        auto c = column();
        return c && !c->empty();
      });
    }
  }

  // The aggregate columns shared by asset and edge summaries, over deduplicated rows.
  // Views: a session that was served at least one segment's bytes (200/206, b > 0)
  // actually played; one that only loaded playlists, or was refused, answered a HEAD
  // or a 304, did not (current edges emit no events for those; the filter covers
  // events older edges spooled). An empty session id is an unknown viewer.
  // quantile() samples (exact up to 8192 values, approximate beyond), which is what a
  // dashboard percentile needs.
  static constexpr std::string_view kTotals =
      "count(), uniqExactIf(sid, k = 'segment' AND sid != '' AND st IN (200, 206) AND b > 0), sum(b), countIf(c = "
      "'HIT'), "
      "countIf(c = 'MISS'), quantile(0.5)(tt), quantile(0.95)(tt)";
  // Only delivered media counts: 200 and 206 (range) segment responses that sent bytes.
  static constexpr std::string_view kDelivered = "k = 'segment' AND st IN (200, 206) AND b > 0";
  // The same over the table's own columns.
  static constexpr std::string_view kBillable = "kind = 'segment' AND status IN (200, 206) AND bytes > 0";
  static constexpr std::string_view kMinutes = "sum(ms) / 60";

  static void read_totals(const std::vector<std::string>& row, size_t at, UsageSummary& u) {
    u.requests = to_int(row[at]);
    u.views = to_int(row[at + 1]);
    u.bytes = to_int(row[at + 2]);
    u.hits = to_int(row[at + 3]);
    u.misses = to_int(row[at + 4]);
    u.ttfb_p50_ms = to_double(row[at + 5]);
    u.ttfb_p95_ms = to_double(row[at + 6]);
  }

  // An event row's ingest time. 0 only for a row written before the column existed
  // and merged while ensure_schema() had added the column but not yet its default;
  // such a row, like every older one, takes its event time.
  static constexpr std::string_view kIngest = "if(ingested_at_ms = 0, ts_ms, ingested_at_ms)";

  // One row per event_id among the events matching `filter` in [from_ms, to_ms).
  //
  // Why not FINAL or rely on ReplacingMergeTree: replays of an event_id are collapsed
  // only when their parts merge, at a time ClickHouse chooses (possibly never for
  // parts in different partitions), and FINAL is slow and, on 18.16, single-threaded.
  // Grouping by event_id makes every count exact whatever the merge state; any() is
  // enough because a replay carries the same values as the original.
  //
  // Aliases differ from the column names on purpose: older ClickHouse resolves an
  // alias equal to a column name inside the aggregate itself ("cyclic aliases").
  // The ts condition is redundant with ts_ms but lets ClickHouse skip partitions and
  // use the sort key; the ts_ms condition gives the exact millisecond bounds.
  std::string deduplicated(const std::string& filter, int64_t from_ms, int64_t to_ms) const {
    return "SELECT event_id, any(edge_id) AS e, any(region) AS r, any(kind) AS k, any(tier) AS t, "
           "any(session_id) AS sid, any(status) AS st, any(bytes) AS b, any(cache) AS c, any(ttfb_ms) AS tt, "
           "any(media_seconds) AS ms FROM " +
           table_ + " WHERE " + filter + " AND ts_ms >= " + std::to_string(from_ms) + " AND ts_ms < " +
           std::to_string(to_ms) + " AND ts >= toDateTime(" + std::to_string(to_datetime(from_ms)) +
           ") AND ts <= toDateTime(" + std::to_string(to_datetime(to_ms)) + ") GROUP BY event_id";
  }

  Client client_;
  std::shared_ptr<const core::Clock> clock_;
  std::string database_;
  std::string table_;
};

}  // namespace

}  // namespace rend::store::clickhouse

namespace rend::store {

std::unique_ptr<AnalyticsStore> open_clickhouse_analytics_store(ClickHouseConfig config,
                                                                std::shared_ptr<const core::Clock> clock) {
  // libcurl's global init is not thread-safe in every build; do it once here in case
  // the process (a tool, a test) did not call it from main.
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<clickhouse::ClickHouseAnalyticsStore>(config, std::move(clock));
}

}  // namespace rend::store
