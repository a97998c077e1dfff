#include "store/sqlite/analytics_store.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>

#include "store/metadata.h"
#include "store/sqlite/db.h"
#include "store/sqlite/metadata_store.h"

namespace rend::store::sqlite {

namespace {

// A deferred transaction around a multi-statement read: in WAL mode it pins one
// snapshot, so the counts, percentiles and per-tier minutes of a summary agree
// even while edges keep inserting.
class ReadTx {
 public:
  explicit ReadTx(Db& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadTx() {
    try {
      db_.exec("COMMIT");
    } catch (const StoreError&) {
      // Nothing was written; a failed COMMIT of a read leaves nothing to undo.
    }
  }
  ReadTx(const ReadTx&) = delete;
  ReadTx& operator=(const ReadTx&) = delete;

 private:
  Db& db_;
};

// Rows of one summary: a key column (asset_id or edge_id) equal to ?1, ts in [?2, ?3).
constexpr std::string_view kAssetWhere = "asset_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3";
constexpr std::string_view kEdgeWhere = "edge_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3";

// Delivered media: segment responses with status 200/206 that sent bytes. Refusals,
// HEADs, 304s, errors and playlists carry no media time.
constexpr std::string_view kBillable = "kind = 'segment' AND status IN (200, 206) AND bytes > 0";

class SqliteAnalyticsStore final : public AnalyticsStore {
 public:
  SqliteAnalyticsStore(std::string path, std::shared_ptr<const core::Clock> clock)
      : path_(std::move(path)),
        clock_(clock ? std::move(clock) : std::make_shared<core::SystemClock>()),
        db_(std::make_unique<Db>(path_)) {}

  void ensure_schema() override {
    // The analytics table is migration 0002 of the same database, so the one runner
    // (and its schema_migrations bookkeeping and BEGIN IMMEDIATE serialization) does
    // the work; a second runner would race the metadata store's on the same file.
    // It uses its own short-lived connection, which is harmless for a startup step.
    SqliteMetadataStore(path_).migrate();
  }

  bool healthy() override {
    std::lock_guard lock(mu_);
    try {
      Stmt s(*db_, "SELECT 1 FROM playback_events LIMIT 1");
      s.step();
      return true;
    } catch (const StoreError&) {
      return false;
    }
  }

  void insert(const std::vector<PlaybackEvent>& events) override {
    if (events.empty()) return;
    std::lock_guard lock(mu_);
    // One transaction per batch: one fsync instead of one per row, and a batch is
    // either stored or not, so the edge's retry replays the whole batch.
    WriteTx tx(*db_);
    // Multi-row INSERTs of up to kRowsPerStatement rows (the parameter count under
    // SQLite's historical 999 limit): the full-size statement is prepared once per
    // batch and reset between chunks, a shorter tail gets its own.
    // Every event of the batch gets the same ingest time: the batch is stored as one
    // transaction, at one moment. A replayed event_id is ignored, keeping its first.
    const int64_t ingested_at_ms = clock_->now_unix_ms();
    constexpr size_t kColumns = 17;
    constexpr size_t kRowsPerStatement = 999 / kColumns;
    auto sql_for = [](size_t n) {
      std::string sql =
          "INSERT OR IGNORE INTO playback_events (event_id, batch_id, ts_ms, edge_id, region, asset_id, artifact, "
          "kind, tier, session_id, status, bytes, cache, ttfb_ms, duration_ms, media_seconds, ingested_at_ms) VALUES ";
      for (size_t r = 0; r < n; ++r) {
        sql += r ? ",(" : "(";
        // Plain "?" (numbered in order, as the binds below count): SQLite looks up every
        // "?NNN" in a linear list while compiling, O(n^2) in a 986-parameter statement.
        for (size_t c = 0; c < kColumns; ++c) sql += c ? ",?" : "?";
        sql += ')';
      }
      return sql;
    };
    std::optional<Stmt> full;
    for (size_t first = 0; first < events.size(); first += kRowsPerStatement) {
      size_t n = std::min(kRowsPerStatement, events.size() - first);
      std::optional<Stmt> tail;
      Stmt* s = nullptr;
      if (n == kRowsPerStatement) {
        if (full) full->reset();
        else full.emplace(*db_, sql_for(n));
        s = &*full;
      } else {
        s = &tail.emplace(*db_, sql_for(n));
      }
      for (size_t r = 0; r < n; ++r) {
        const auto& e = events[first + r];
        int p = int(r * kColumns);
        s->bind(p + 1, e.event_id)
            .bind(p + 2, e.batch_id)
            .bind(p + 3, e.ts_ms)
            .bind(p + 4, e.edge_id)
            .bind(p + 5, e.region)
            .bind(p + 6, e.asset_id)
            .bind(p + 7, e.artifact)
            .bind(p + 8, e.kind)
            .bind(p + 9, e.tier)
            .bind(p + 10, e.session_id)
            .bind(p + 11, e.status)
            .bind(p + 12, e.bytes)
            .bind(p + 13, e.cache)
            .bind(p + 14, e.ttfb_ms)
            .bind(p + 15, e.duration_ms)
            // NaN would be stored as NULL and break NOT NULL; a bogus duration counts as none.
            .bind(p + 16, std::isfinite(e.media_seconds) ? e.media_seconds : 0.0)
            .bind(p + 17, ingested_at_ms);
      }
      s->run();
    }
    tx.commit();
  }

  std::optional<UsageSummary> asset_summary(const std::string& asset_id, int64_t from_ms, int64_t to_ms) override {
    std::lock_guard lock(mu_);
    ReadTx tx(*db_);
    auto s = summarize(kAssetWhere, asset_id, from_ms, to_ms);
    if (s.requests == 0) return std::nullopt;
    return s;
  }

  std::vector<UsageSummary> edge_summaries(int64_t from_ms, int64_t to_ms) override {
    std::lock_guard lock(mu_);
    ReadTx tx(*db_);
    std::vector<std::pair<std::string, std::string>> edges;
    {
      // An edge belongs to one region; max() just makes the choice deterministic
      // should an edge ever be moved within the range.
      Stmt s(*db_,
             "SELECT edge_id, max(region) FROM playback_events WHERE ts_ms >= ?1 AND ts_ms < ?2 "
             "GROUP BY edge_id ORDER BY edge_id");
      s.bind(1, from_ms).bind(2, to_ms);
      while (s.step()) edges.emplace_back(s.text(0), s.text(1));
    }
    std::vector<UsageSummary> out;
    out.reserve(edges.size());
    for (auto& [edge, region] : edges) {
      auto s = summarize(kEdgeWhere, edge, from_ms, to_ms);
      s.region = std::move(region);
      out.push_back(std::move(s));
    }
    return out;
  }

  // The stored row of an event_id is its first ingestion (INSERT OR IGNORE), so the
  // window is a plain range over ingested_at_ms and each event is one row.
  std::vector<AssetDelivery> delivered_seconds(int64_t from_ingest_ms, int64_t to_ingest_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(*db_,
           "SELECT asset_id, sum(media_seconds), count(*) FROM playback_events WHERE ingested_at_ms >= ?1 AND "
           "ingested_at_ms < ?2 AND " +
               std::string(kBillable) + " GROUP BY asset_id ORDER BY asset_id");
    s.bind(1, from_ingest_ms).bind(2, to_ingest_ms);
    std::vector<AssetDelivery> out;
    while (s.step()) out.push_back({s.text(0), s.real(1), s.int64(2)});
    return out;
  }

  std::optional<int64_t> earliest_unbilled_ingest_ms(int64_t from_ingest_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(*db_,
           "SELECT min(ingested_at_ms) FROM playback_events WHERE ingested_at_ms >= ?1 AND " + std::string(kBillable));
    s.bind(1, from_ingest_ms);
    if (!s.step()) return std::nullopt;
    return s.opt_int64(0);
  }

 private:
  // The summary of rows matching `where` (?1 = key, ?2/?3 = range). Caller holds mu_.
  UsageSummary summarize(std::string_view where, const std::string& key, int64_t from_ms, int64_t to_ms) {
    UsageSummary u;
    u.key = key;
    {
      // Views: a session that was served at least one segment's bytes (200/206,
      // bytes > 0) actually played; one that only loaded the page's playlists, or was
      // refused, answered a HEAD or a 304, did not. Current edges emit no events for
      // those; the filter is for events older edges spooled. An empty session id is
      // an unknown viewer, not one shared viewer.
      Stmt s(*db_,
             "SELECT count(*), count(DISTINCT CASE WHEN kind = 'segment' AND session_id <> '' AND "
             "status IN (200, 206) AND bytes > 0 THEN session_id END), coalesce(sum(bytes), 0), coalesce(sum(cache = "
             "'HIT'), 0), "
             "coalesce(sum(cache = 'MISS'), 0) FROM playback_events WHERE " +
                 std::string(where));
      s.bind(1, key).bind(2, from_ms).bind(3, to_ms);
      if (s.step()) {
        u.requests = s.int64(0);
        u.views = s.int64(1);
        u.bytes = s.int64(2);
        u.hits = s.int64(3);
        u.misses = s.int64(4);
      }
    }
    if (u.requests == 0) return u;
    u.ttfb_p50_ms = quantile(where, key, from_ms, to_ms, u.requests, 0.5);
    u.ttfb_p95_ms = quantile(where, key, from_ms, to_ms, u.requests, 0.95);
    {
      // Only delivered media counts: 200 and 206 (range) responses that sent bytes.
      // Errors, refusals, HEADs, 304s and non-segment artifacts carry no media time.
      Stmt s(*db_, "SELECT tier, sum(media_seconds) / 60.0 FROM playback_events WHERE " + std::string(where) +
                       " AND kind = 'segment' AND status IN (200, 206) AND bytes > 0 GROUP BY tier ORDER BY tier");
      s.bind(1, key).bind(2, from_ms).bind(3, to_ms);
      while (s.step()) u.delivered_minutes.push_back({s.text(0), s.real(1)});
    }
    return u;
  }

  // The level-quantile of ttfb_ms over n matching rows, interpolated linearly between
  // the two nearest ranks (the definition ClickHouse's quantile() uses, so both
  // backends report the same numbers). SQLite sorts; only two values cross into C++.
  double quantile(std::string_view where, const std::string& key, int64_t from_ms, int64_t to_ms, int64_t n,
                  double level) {
    double pos = level * double(n - 1);
    auto lo = int64_t(std::floor(pos));
    Stmt s(*db_,
           "SELECT ttfb_ms FROM playback_events WHERE " + std::string(where) + " ORDER BY ttfb_ms LIMIT 2 OFFSET ?4");
    s.bind(1, key).bind(2, from_ms).bind(3, to_ms).bind(4, lo);
    if (!s.step()) return 0;
    double a = double(s.int64(0));
    double b = s.step() ? double(s.int64(0)) : a;
    return a + (b - a) * (pos - double(lo));
  }

  std::string path_;
  std::shared_ptr<const core::Clock> clock_;
  std::mutex mu_;
  std::unique_ptr<Db> db_;
};

}  // namespace

}  // namespace rend::store::sqlite

namespace rend::store {

std::unique_ptr<AnalyticsStore> open_sqlite_analytics_store(const std::string& sqlite_path,
                                                            std::shared_ptr<const core::Clock> clock) {
  return std::make_unique<sqlite::SqliteAnalyticsStore>(sqlite_path, std::move(clock));
}

}  // namespace rend::store
