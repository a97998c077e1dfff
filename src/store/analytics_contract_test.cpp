// The AnalyticsStore contract, written once and run against every backend: the
// embedded SQLite table and ClickHouse (when REND_TEST_CLICKHOUSE_URL names a server).
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <map>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "store/analytics.h"
#include "store/clickhouse/analytics_store.h"
#include "store/clickhouse/client.h"
#include "store/clickhouse/schema.h"
#include "store/sqlite/analytics_store.h"
#include "store/sqlite/db.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;  // 2027-01-15, whole second
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kMinute = 60'000;

// The columns of playback_events as every schema so far has them, in insert order.
constexpr const char* kLegacyColumns =
    "event_id, batch_id, ts_ms, edge_id, region, asset_id, artifact, kind, tier, session_id, status, bytes, cache, "
    "ttfb_ms, duration_ms, media_seconds";

// One backend under test. open() returns a fresh, empty store (nullptr = skip);
// reopen() another handle on the same data, as a second process would have.
// Every handle stamps ingest times from the fixture's clock, which tests move.
class AnalyticsFixture {
 public:
  virtual ~AnalyticsFixture() = default;
  virtual std::unique_ptr<AnalyticsStore> open() = 0;
  // Makes the backend fold duplicate rows now, the way it may at any later time on
  // its own (ClickHouse merges parts); a no-op where duplicates are never stored.
  virtual void compact() {}
  // The first ingest time the backend holds for `event_id`, read from its tables
  // directly (not through the store), so a test sees what is on disk.
  virtual std::optional<int64_t> stored_ingest_ms(const std::string& event_id) = 0;
  // Stores `events` as a deployment from before ingest times existed did: its schema
  // and its insert, no ingest time anywhere. The next open()+ensure_schema() migrates.
  virtual void store_legacy(const std::vector<PlaybackEvent>& events) = 0;

  std::shared_ptr<core::FakeClock> clock = std::make_shared<core::FakeClock>(kT0);
};

struct AnalyticsBackend {
  std::string name;
  std::function<std::unique_ptr<AnalyticsFixture>()> make;
  // ClickHouse's quantile() samples; exact for small sets, but the contract only
  // promises a percentile, not an interpolation rule.
  double percentile_tolerance_ms;
  friend void PrintTo(const AnalyticsBackend& b, std::ostream* os) { *os << b.name; }
};

class SqliteFixture : public AnalyticsFixture {
 public:
  std::unique_ptr<AnalyticsStore> open() override { return open_sqlite_analytics_store(path(), clock); }

  std::optional<int64_t> stored_ingest_ms(const std::string& event_id) override {
    sqlite::Db db(path());
    sqlite::Stmt s(db, "SELECT ingested_at_ms FROM playback_events WHERE event_id = ?1");
    s.bind(1, event_id);
    if (!s.step()) return std::nullopt;
    return s.int64(0);
  }

  void store_legacy(const std::vector<PlaybackEvent>& events) override {
    // Every migration, then playback_events put back to its 0002 shape and the
    // ingest-time migration forgotten, so the next ensure_schema() runs it on these rows.
    open()->ensure_schema();
    sqlite::Db db(path());
    db.exec(
        "DROP TABLE playback_events;"
        "CREATE TABLE playback_events (event_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, "
        "edge_id TEXT NOT NULL, region TEXT NOT NULL, asset_id TEXT NOT NULL, artifact TEXT NOT NULL, kind TEXT NOT "
        "NULL, tier TEXT NOT NULL, session_id TEXT NOT NULL, status INTEGER NOT NULL, bytes INTEGER NOT NULL, cache "
        "TEXT NOT NULL, ttfb_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, media_seconds REAL NOT NULL);"
        "CREATE INDEX playback_events_asset_ts ON playback_events (asset_id, ts_ms);"
        "CREATE INDEX playback_events_ts ON playback_events (ts_ms);"
        "DELETE FROM schema_migrations WHERE version = 7;");
    for (const auto& e : events) {
      sqlite::Stmt s(db, std::string("INSERT OR IGNORE INTO playback_events (") + kLegacyColumns +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
      s.bind(1, e.event_id).bind(2, e.batch_id).bind(3, e.ts_ms).bind(4, e.edge_id).bind(5, e.region);
      s.bind(6, e.asset_id).bind(7, e.artifact).bind(8, e.kind).bind(9, e.tier).bind(10, e.session_id);
      s.bind(11, e.status).bind(12, e.bytes).bind(13, e.cache).bind(14, e.ttfb_ms).bind(15, e.duration_ms);
      s.bind(16, e.media_seconds);
      s.run();
    }
  }

 private:
  std::string path() const { return (dir_.path() / "rend.db").string(); }
  testing::TempDir dir_;
};

// A scratch database per test on the shared server, dropped afterwards, so tests
// (and concurrent runs) never see each other's rows.
class ClickHouseFixture : public AnalyticsFixture {
 public:
  ClickHouseFixture() {
    config_.url = testing::service_env("REND_TEST_CLICKHOUSE_URL");
    config_.database = "rend_test_" + core::hex_encode(core::random_bytes(6));
  }
  ~ClickHouseFixture() override {
    if (config_.url.empty() || !created_) return;
    try {
      clickhouse::Client(config_).query("DROP DATABASE IF EXISTS " + config_.database);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping " << config_.database << ": " << e.what();
    }
  }
  std::unique_ptr<AnalyticsStore> open() override {
    if (config_.url.empty()) return nullptr;
    created_ = true;
    return open_clickhouse_analytics_store(config_, clock);
  }
  void compact() override {
    clickhouse::Client(config_).query("OPTIMIZE TABLE " + config_.database + ".playback_events FINAL");
  }

  std::optional<int64_t> stored_ingest_ms(const std::string& event_id) override {
    auto rows = clickhouse::parse_tsv(clickhouse::Client(config_).query(
        "SELECT count(), min(ingested_at_ms) FROM " + config_.database +
        ".playback_events WHERE event_id = " + clickhouse::quote(event_id) + " FORMAT TabSeparated"));
    if (rows.size() != 1 || rows[0].size() != 2 || rows[0][0] == "0") return std::nullopt;
    return std::stoll(rows[0][1]);
  }

  void store_legacy(const std::vector<PlaybackEvent>& events) override {
    // The table exactly as clickhouse/schema.sql created it before ingest times.
    clickhouse::Client c(config_);
    created_ = true;
    const std::string t = config_.database + ".playback_events";
    c.query("CREATE DATABASE IF NOT EXISTS " + config_.database);
    c.query("CREATE TABLE " + t +
            " (event_id String, batch_id String, ts DateTime, ts_ms Int64, edge_id String, region String, asset_id "
            "String, artifact String, kind String, tier String, session_id String, status Int32, bytes Int64, cache "
            "String, ttfb_ms Int64, duration_ms Int64, media_seconds Float64) ENGINE = ReplacingMergeTree() "
            "PARTITION BY toYYYYMM(ts) ORDER BY (asset_id, ts, event_id)");
    std::string values;
    for (const auto& e : events) {
      auto q = [](const std::string& v) { return clickhouse::quote(v); };
      values += (values.empty() ? "(" : ",(") + q(e.event_id) + "," + q(e.batch_id) + ",toDateTime(" +
                std::to_string(e.ts_ms / 1000) + ")," + std::to_string(e.ts_ms) + "," + q(e.edge_id) + "," +
                q(e.region) + "," + q(e.asset_id) + "," + q(e.artifact) + "," + q(e.kind) + "," + q(e.tier) + "," +
                q(e.session_id) + "," + std::to_string(e.status) + "," + std::to_string(e.bytes) + "," + q(e.cache) +
                "," + std::to_string(e.ttfb_ms) + "," + std::to_string(e.duration_ms) + "," +
                std::to_string(e.media_seconds) + ")";
    }
    c.query("INSERT INTO " + t +
            " (event_id, batch_id, ts, ts_ms, edge_id, region, asset_id, artifact, kind, tier, "
            "session_id, status, bytes, cache, ttfb_ms, duration_ms, media_seconds) VALUES " +
            values);
  }

 private:
  ClickHouseConfig config_;
  bool created_ = false;
};

const AnalyticsBackend kBackends[] = {
    {"sqlite", [] { return std::make_unique<SqliteFixture>(); }, 1e-9},
    {"clickhouse", [] { return std::make_unique<ClickHouseFixture>(); }, 2.0},
};

class AnalyticsContract : public ::testing::TestWithParam<AnalyticsBackend> {
 protected:
  void SetUp() override {
    fixture_ = GetParam().make();
    store_ = fixture_->open();
    if (!store_) GTEST_SKIP() << "REND_TEST_CLICKHOUSE_URL is not set";
    store_->ensure_schema();
  }

  PlaybackEvent event(const std::string& asset, int64_t ts_ms, const std::string& kind = "segment",
                      const std::string& tier = "720p", const std::string& session = "ses_a") {
    PlaybackEvent e;
    e.event_id = core::new_id("evt");
    e.batch_id = "bat_1";
    e.ts_ms = ts_ms;
    e.edge_id = "edge-a";
    e.region = "eu";
    e.asset_id = asset;
    e.kind = kind;
    e.tier = kind == "segment" || kind == "playlist" ? tier : "";
    e.artifact = kind == "segment" ? tier + "/seg_00001.ts" : kind == "playlist" ? tier + "/index.m3u8" : "master.m3u8";
    e.session_id = session;
    e.status = 200;
    e.bytes = 1000;
    e.cache = "HIT";
    e.ttfb_ms = 10;
    e.duration_ms = 20;
    e.media_seconds = kind == "segment" ? 4.0 : 0.0;
    return e;
  }

  // A playback's worth of traffic for one asset, every field's aggregate known exactly.
  std::vector<PlaybackEvent> mixed_batch(const std::string& asset) {
    std::vector<PlaybackEvent> batch;
    int64_t ts = kT0;
    // Session a: master, playlist, three 720p segments (one a 206 range, one a 404).
    batch.push_back(event(asset, ts++, "master", "", "ses_a"));
    batch.push_back(event(asset, ts++, "playlist", "720p", "ses_a"));
    batch.push_back(event(asset, ts++, "segment", "720p", "ses_a"));
    batch.push_back(event(asset, ts++, "segment", "720p", "ses_a"));
    batch.back().status = 206;
    batch.back().media_seconds = 2.0;
    batch.push_back(event(asset, ts++, "segment", "720p", "ses_a"));
    batch.back().status = 404;
    batch.back().cache = "MISS";
    batch.back().bytes = 100;
    // Session b: one 360p segment, a miss.
    batch.push_back(event(asset, ts++, "segment", "360p", "ses_b"));
    batch.back().cache = "MISS";
    batch.back().bytes = 5000;
    batch.back().media_seconds = 6.0;
    // Session c only loaded the master playlist: not a view.
    batch.push_back(event(asset, ts++, "master", "", "ses_c"));
    // Session a's poster.
    batch.push_back(event(asset, ts++, "poster", "", "ses_a"));
    return batch;
  }

  static double minutes(const UsageSummary& u, const std::string& tier) {
    for (const auto& t : u.delivered_minutes)
      if (t.tier == tier) return t.minutes;
    return -1;
  }

  std::unique_ptr<AnalyticsFixture> fixture_;
  std::unique_ptr<AnalyticsStore> store_;
};

TEST_P(AnalyticsContract, EnsureSchemaIsIdempotentAndHealthy) {
  store_->ensure_schema();
  EXPECT_TRUE(store_->healthy());
  store_->ensure_schema();
  EXPECT_TRUE(store_->healthy());
}

TEST_P(AnalyticsContract, AssetSummaryAggregatesEveryField) {
  auto batch = mixed_batch("ast_1");
  // Another asset's traffic in the same batch must not leak into ast_1's summary.
  batch.push_back(event("ast_2", kT0 + 50, "segment", "720p", "ses_z"));
  store_->insert(batch);

  auto u = store_->asset_summary("ast_1", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->key, "ast_1");
  EXPECT_EQ(u->requests, 8);
  EXPECT_EQ(u->views, 2) << "ses_a and ses_b fetched segments; ses_c did not";
  EXPECT_EQ(u->bytes, 1000 * 6 + 100 + 5000);
  EXPECT_EQ(u->hits, 6);
  EXPECT_EQ(u->misses, 2);
  ASSERT_EQ(u->delivered_minutes.size(), 2u) << "sorted by tier, 404s deliver nothing";
  EXPECT_EQ(u->delivered_minutes[0].tier, "360p");
  EXPECT_NEAR(u->delivered_minutes[0].minutes, 6.0 / 60, 1e-9);
  EXPECT_EQ(u->delivered_minutes[1].tier, "720p");
  EXPECT_NEAR(u->delivered_minutes[1].minutes, (4.0 + 2.0) / 60, 1e-9) << "200 and 206 count, 404 does not";
  EXPECT_NEAR(u->ttfb_p50_ms, 10, GetParam().percentile_tolerance_ms);

  store_->insert(batch);  // replayed: nothing changes
  auto replayed = store_->asset_summary("ast_1", kT0, kT0 + kHour);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->requests, 8);
  EXPECT_EQ(replayed->bytes, u->bytes);
  EXPECT_EQ(replayed->views, 2);

  auto other = store_->asset_summary("ast_2", kT0, kT0 + kHour);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->requests, 1);
  EXPECT_EQ(other->views, 1);
}

// Packs events as the telemetry wire carries them (store/packed_rows.h).
std::string pack(const std::vector<PlaybackEvent>& events) {
  std::string out;
  for (const auto& e : events) append_packed_row(out, e);
  return out;
}

// Packed rows (the API's path for binary telemetry) store exactly what insert() of the
// same events stores: every field, across several batches in one call, deduplicated
// against a later insert() of the same event ids.
TEST_P(AnalyticsContract, PackedRowsStoreWhatTheEventsWould) {
  auto batch = mixed_batch("ast_pk");
  const std::vector<PlaybackEvent> first(batch.begin(), batch.begin() + 3), rest(batch.begin() + 3, batch.end());
  const std::string a = pack(first), b = pack(rest);
  store_->insert_packed({PackedRows{"bat_a", a, first.size()}, PackedRows{"bat_b", b, rest.size()}});

  auto u = store_->asset_summary("ast_pk", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, 8);
  EXPECT_EQ(u->views, 2);
  EXPECT_EQ(u->bytes, 1000 * 6 + 100 + 5000);
  EXPECT_EQ(u->hits, 6);
  EXPECT_EQ(u->misses, 2);
  ASSERT_EQ(u->delivered_minutes.size(), 2u);
  EXPECT_EQ(u->delivered_minutes[0].tier, "360p");
  EXPECT_NEAR(u->delivered_minutes[0].minutes, 6.0 / 60, 1e-9);
  EXPECT_NEAR(u->delivered_minutes[1].minutes, (4.0 + 2.0) / 60, 1e-9);
  EXPECT_NEAR(u->ttfb_p50_ms, 10, GetParam().percentile_tolerance_ms);
  auto delivered = store_->delivered_seconds(0, INT64_MAX);
  double seconds = 0;
  for (const auto& d : delivered)
    if (d.asset_id == "ast_pk") seconds = d.media_seconds;
  EXPECT_NEAR(seconds, 4.0 + 2.0 + 6.0, 1e-9);

  store_->insert(batch);  // the same events again, unpacked: nothing changes
  auto again = store_->asset_summary("ast_pk", kT0, kT0 + kHour);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->requests, 8);
  EXPECT_EQ(again->bytes, u->bytes);
  store_->insert_packed({});  // nothing: a no-op
}

// A batch larger than one INSERT statement holds (the SQLite store writes 58 rows a
// statement, reusing it): every row lands with its own values, none twice or lost.
TEST_P(AnalyticsContract, ABatchOfManyStatementsStoresEveryRowWithItsOwnValues) {
  std::vector<PlaybackEvent> batch;
  const int n = 2 * 58 + 7;
  int64_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    batch.push_back(event("ast_big", kT0 + i, "segment", "720p", "ses_" + std::to_string(i % 9)));
    batch.back().bytes = 1000 + i;
    batch.back().cache = i % 3 == 0 ? "MISS" : "HIT";
    bytes += 1000 + i;
  }
  store_->insert(batch);
  auto u = store_->asset_summary("ast_big", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, n);
  EXPECT_EQ(u->bytes, bytes);
  EXPECT_EQ(u->views, 9);
  EXPECT_EQ(u->misses, (n + 2) / 3);
  EXPECT_EQ(u->hits, n - (n + 2) / 3);
}

TEST_P(AnalyticsContract, ReplayedEventsAreCountedOnce) {
  std::vector<PlaybackEvent> batch;
  const int n = 25;
  for (int i = 0; i < n; ++i)
    batch.push_back(event("ast_r", kT0 + i * 1000, "segment", "720p", "ses_" + std::to_string(i % 5)));
  store_->insert(batch);
  store_->insert(batch);  // the edge's retry after a lost response
  // A retry that overlaps: part of the old batch plus new events, with a duplicate
  // inside the batch itself.
  std::vector<PlaybackEvent> overlap(batch.begin() + 20, batch.end());
  overlap.push_back(event("ast_r", kT0 + n * 1000, "segment", "720p", "ses_0"));
  overlap.push_back(overlap.back());
  store_->insert(overlap);

  auto u = store_->asset_summary("ast_r", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, n + 1);
  EXPECT_EQ(u->bytes, (n + 1) * 1000);
  EXPECT_EQ(u->hits, n + 1);
  EXPECT_EQ(u->views, 5);
  EXPECT_NEAR(minutes(*u, "720p"), (n + 1) * 4.0 / 60, 1e-9);

  // Another handle (a second process) sees the same totals.
  auto again = fixture_->open();
  again->ensure_schema();
  EXPECT_EQ(again->asset_summary("ast_r", kT0, kT0 + kHour)->requests, n + 1);
}

TEST_P(AnalyticsContract, ReplayAfterCompactionIsCountedOnce) {
  // An edge that never saw the answer replays its spool much later, after the backend
  // has already merged the original rows (and their first replay) away.
  std::vector<PlaybackEvent> batch;
  for (int i = 0; i < 10; ++i)
    batch.push_back(event("ast_m", kT0 + i, "segment", "720p", "ses_" + std::to_string(i % 2)));
  store_->insert(batch);
  store_->insert(batch);
  fixture_->compact();
  store_->insert(batch);
  store_->insert(std::vector<PlaybackEvent>(batch.begin(), batch.begin() + 5));
  auto u = store_->asset_summary("ast_m", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, 10);
  EXPECT_EQ(u->bytes, 10 * 1000);
  EXPECT_EQ(u->views, 2);
  EXPECT_NEAR(minutes(*u, "720p"), 10 * 4.0 / 60, 1e-9);
  auto edges = store_->edge_summaries(kT0, kT0 + kHour);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].requests, 10);
  fixture_->compact();
  EXPECT_EQ(store_->asset_summary("ast_m", kT0, kT0 + kHour)->requests, 10);
}

// Only served media counts toward views and delivered minutes. Events an older edge
// spooled for refusals, HEADs, 304s and errors (each naming a session, each a
// segment with media seconds) must not add a view or a minute.
TEST_P(AnalyticsContract, RefusalsHeadsAndEmptyResponsesAddNoViewsOrMinutes) {
  std::vector<PlaybackEvent> batch;
  int64_t ts = kT0;
  auto add = [&](const std::string& session, int status, int64_t bytes) {
    auto e = event("ast_u", ts++, "segment", "720p", session);
    e.status = status;
    e.bytes = bytes;
    batch.push_back(e);
  };
  add("ses_401", 401, 120);  // a made-up cookie
  add("ses_403", 403, 120);
  add("ses_405", 405, 80);
  add("ses_413", 413, 90);
  add("ses_400", 400, 70);
  add("ses_options", 204, 0);
  add("ses_304", 304, 0);
  add("ses_head", 200, 0);     // a HEAD: status 200, no body sent
  add("ses_aborted", 206, 0);  // a range whose viewer left before any byte
  add("ses_404", 404, 60);
  store_->insert(batch);
  auto u = store_->asset_summary("ast_u", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, int64_t(batch.size())) << "every event is still a request";
  EXPECT_EQ(u->views, 0) << "no session was served media";
  EXPECT_TRUE(u->delivered_minutes.empty()) << "no media was delivered";
  auto edges = store_->edge_summaries(kT0, kT0 + kHour);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].views, 0);
  EXPECT_TRUE(edges[0].delivered_minutes.empty());

  // One served segment: exactly one view and its minutes.
  store_->insert({event("ast_u", ts++, "segment", "720p", "ses_ok")});
  u = store_->asset_summary("ast_u", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->views, 1);
  EXPECT_NEAR(minutes(*u, "720p"), 4.0 / 60, 1e-9);
}

TEST_P(AnalyticsContract, RangeIsHalfOpen) {
  store_->insert({event("ast_t", kT0 - 1), event("ast_t", kT0), event("ast_t", kT0 + 999), event("ast_t", kT0 + 1000),
                  event("ast_t", kT0 + 1001)});
  auto u = store_->asset_summary("ast_t", kT0, kT0 + 1000);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, 2) << "from is inclusive, to exclusive, to the millisecond";
  EXPECT_EQ(store_->asset_summary("ast_t", kT0 + 1000, kT0 + 1001)->requests, 1);
  EXPECT_EQ(store_->asset_summary("ast_t", kT0 - 5000, kT0 + 5000)->requests, 5);
  EXPECT_FALSE(store_->asset_summary("ast_t", kT0 + 2000, kT0 + kHour)) << "no events in range";
  EXPECT_FALSE(store_->asset_summary("ast_t", kT0, kT0)) << "empty range";
  auto edges = store_->edge_summaries(kT0, kT0 + 1000);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].requests, 2);
}

TEST_P(AnalyticsContract, UnknownAssetIsNullopt) {
  EXPECT_FALSE(store_->asset_summary("ast_missing", 0, kT0 * 2));
  store_->insert({event("ast_known", kT0)});
  EXPECT_FALSE(store_->asset_summary("ast_missing", 0, kT0 * 2));
  EXPECT_FALSE(store_->asset_summary("it's \\ 'quoted'", 0, kT0 * 2)) << "ids are data, not SQL";
  EXPECT_TRUE(store_->edge_summaries(kT0 + kHour, kT0 + 2 * kHour).empty());
}

TEST_P(AnalyticsContract, EdgeSummariesGroupPerEdgeWithRegion) {
  std::vector<PlaybackEvent> batch;
  auto at = [&](const std::string& edge, const std::string& region, const std::string& asset, int64_t ts,
                const std::string& tier, const std::string& session, const std::string& cache) {
    auto e = event(asset, ts, "segment", tier, session);
    e.edge_id = edge;
    e.region = region;
    e.cache = cache;
    batch.push_back(e);
  };
  at("edge-b", "us", "ast_1", kT0 + 1, "720p", "s1", "HIT");
  at("edge-b", "us", "ast_2", kT0 + 2, "360p", "s2", "MISS");
  at("edge-b", "us", "ast_2", kT0 + 3, "360p", "s2", "HIT");
  at("edge-a", "eu", "ast_1", kT0 + 4, "720p", "s3", "HIT");
  at("edge-c", "ap", "ast_1", kT0 + 2 * kHour, "720p", "s4", "HIT");  // outside the range
  auto p = event("ast_1", kT0 + 5, "playlist", "720p", "s5");
  p.edge_id = "edge-a";
  p.region = "eu";
  batch.push_back(p);
  store_->insert(batch);
  store_->insert(batch);

  auto edges = store_->edge_summaries(kT0, kT0 + kHour);
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[0].key, "edge-a");
  EXPECT_EQ(edges[0].region, "eu");
  EXPECT_EQ(edges[0].requests, 2);
  EXPECT_EQ(edges[0].views, 1) << "s5 loaded a playlist only";
  EXPECT_EQ(edges[0].hits, 2);
  EXPECT_EQ(edges[0].bytes, 2000);
  ASSERT_EQ(edges[0].delivered_minutes.size(), 1u);
  EXPECT_NEAR(minutes(edges[0], "720p"), 4.0 / 60, 1e-9);

  EXPECT_EQ(edges[1].key, "edge-b");
  EXPECT_EQ(edges[1].region, "us");
  EXPECT_EQ(edges[1].requests, 3);
  EXPECT_EQ(edges[1].views, 2);
  EXPECT_EQ(edges[1].hits, 2);
  EXPECT_EQ(edges[1].misses, 1);
  ASSERT_EQ(edges[1].delivered_minutes.size(), 2u);
  EXPECT_EQ(edges[1].delivered_minutes[0].tier, "360p");
  EXPECT_NEAR(edges[1].delivered_minutes[0].minutes, 8.0 / 60, 1e-9);
  EXPECT_EQ(edges[1].delivered_minutes[1].tier, "720p");
  EXPECT_NEAR(edges[1].delivered_minutes[1].minutes, 4.0 / 60, 1e-9);
}

TEST_P(AnalyticsContract, TtfbPercentilesOnAKnownDistribution) {
  // ttfb 1..100 ms, shuffled in time so order of insertion is not order of value.
  std::vector<PlaybackEvent> batch;
  for (int i = 0; i < 100; ++i) {
    auto e = event("ast_q", kT0 + ((i * 37) % 100) * 10);
    e.ttfb_ms = i + 1;
    batch.push_back(e);
  }
  store_->insert(batch);
  store_->insert(batch);  // duplicates must not skew the distribution either
  auto u = store_->asset_summary("ast_q", kT0, kT0 + kHour);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->requests, 100);
  // Linear interpolation between nearest ranks: 50.5 and 95.05.
  EXPECT_NEAR(u->ttfb_p50_ms, 50.5, GetParam().percentile_tolerance_ms);
  EXPECT_NEAR(u->ttfb_p95_ms, 95.05, GetParam().percentile_tolerance_ms);

  auto edges = store_->edge_summaries(kT0, kT0 + kHour);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_NEAR(edges[0].ttfb_p50_ms, 50.5, GetParam().percentile_tolerance_ms);
  EXPECT_NEAR(edges[0].ttfb_p95_ms, 95.05, GetParam().percentile_tolerance_ms);
}

TEST_P(AnalyticsContract, StringsRoundTripThroughTheBackend) {
  auto e = event("ast_s", kT0);
  e.edge_id = "edge \"q\" \\ 'x'\ttab";
  e.region = "région-ü";
  e.tier = "1080p";
  store_->insert({e});
  auto edges = store_->edge_summaries(kT0, kT0 + 1);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].key, e.edge_id);
  EXPECT_EQ(edges[0].region, e.region);
  EXPECT_EQ(edges[0].delivered_minutes.at(0).tier, "1080p");
  store_->insert({});  // an empty batch is a no-op, not an error
  EXPECT_EQ(store_->edge_summaries(kT0, kT0 + 1).size(), 1u);
}

// The seconds delivered to `asset` in the window, or -1 when the asset is absent.
double seconds_of(const std::vector<AssetDelivery>& rows, const std::string& asset, int64_t* events = nullptr) {
  for (const auto& r : rows)
    if (r.asset_id == asset) {
      if (events) *events = r.events;
      return r.media_seconds;
    }
  return -1;
}

// Billing windows range over the time the store FIRST stored an event (its ingest
// time, from the store's clock), not the edge's ts_ms: a replay of an event already
// stored, even after the backend merged its rows, keeps the first time.
TEST_P(AnalyticsContract, IngestTimeIsTheFirstStoreNotAReplay) {
  auto served = event("ast_i", kT0 - 3 * kHour);  // spooled for hours at the edge
  fixture_->clock->set_unix_ms(kT0 + 5);
  store_->insert({served});
  fixture_->clock->set_unix_ms(kT0 + 10 * kMinute);
  auto later = event("ast_i", kT0);
  store_->insert({served, later, served});
  EXPECT_EQ(fixture_->stored_ingest_ms(served.event_id), kT0 + 5);
  EXPECT_EQ(fixture_->stored_ingest_ms(later.event_id), kT0 + 10 * kMinute);
  fixture_->compact();
  EXPECT_EQ(fixture_->stored_ingest_ms(served.event_id), kT0 + 5) << "a merge must keep the first ingestion";
  fixture_->clock->set_unix_ms(kT0 + 20 * kMinute);
  store_->insert({served});  // replayed once more after the merge
  fixture_->compact();
  EXPECT_EQ(fixture_->stored_ingest_ms(served.event_id), kT0 + 5);
  EXPECT_EQ(store_->asset_summary("ast_i", kT0 - 4 * kHour, kT0 + kHour)->requests, 2);
}

// Rows stored before ingest times existed take their event time as ingest time, and
// the migration is idempotent (every start runs ensure_schema()).
TEST_P(AnalyticsContract, RowsStoredBeforeIngestTimesTakeTheirEventTime) {
  auto fx = GetParam().make();
  auto a = event("ast_old", kT0 - kHour);
  auto b = event("ast_old", kT0 - kHour + 1500);
  fx->store_legacy({a, b});
  fx->clock->set_unix_ms(kT0);
  // Two processes starting together both migrate; both must succeed.
  auto store = fx->open();
  auto other = fx->open();
  auto racing = std::async(std::launch::async, [&] { other->ensure_schema(); });
  store->ensure_schema();
  racing.get();
  store->ensure_schema();
  EXPECT_EQ(fx->stored_ingest_ms(a.event_id), a.ts_ms);
  EXPECT_EQ(fx->stored_ingest_ms(b.event_id), b.ts_ms);
  store->insert({a});  // a replay of an old row: the old time stays the first
  fx->compact();
  EXPECT_EQ(fx->stored_ingest_ms(a.event_id), a.ts_ms);
  auto again = fx->open();
  again->ensure_schema();
  EXPECT_EQ(again->asset_summary("ast_old", kT0 - 2 * kHour, kT0)->requests, 2);
  int64_t n = 0;
  EXPECT_NEAR(seconds_of(again->delivered_seconds(kT0 - kHour, kT0 - kHour + 1000), "ast_old", &n), 4.0, 1e-12);
  EXPECT_EQ(n, 1) << "billed by the event time standing in for its ingest time";
  EXPECT_TRUE(again->delivered_seconds(kT0, kT0 + kHour).empty()) << "the replay is no new usage";
}

// --- Billable delivery by first-ingest window (delivered_seconds) ---------------

TEST_P(AnalyticsContract, DeliveredSecondsSumBillableSegmentsPerAssetExactly) {
  std::vector<PlaybackEvent> batch;
  auto seg = [&](const std::string& asset, int status, int64_t bytes, double seconds,
                 const std::string& kind = "segment") {
    auto e = event(asset, kT0 - kHour, kind);
    e.status = status;
    e.bytes = bytes;
    e.media_seconds = seconds;
    batch.push_back(e);
  };
  seg("ast_b", 200, 1000, 4.0);
  seg("ast_b", 206, 300, 1.0 / 3);  // a range: the edge already scaled the seconds to the bytes sent
  seg("ast_b", 200, 1000, 0.125);
  seg("ast_a", 206, 10, 2.0 / 3);
  // Nothing below delivered media.
  seg("ast_a", 200, 0, 4.0);    // a HEAD
  seg("ast_a", 206, 0, 4.0);    // a range aborted before any byte
  seg("ast_a", 304, 0, 4.0);    // not modified
  seg("ast_a", 403, 120, 4.0);  // refused
  seg("ast_a", 404, 60, 4.0);
  seg("ast_a", 500, 60, 4.0);
  seg("ast_a", 200, 1000, 4.0, "playlist");
  seg("ast_c", 401, 100, 4.0);  // an asset with nothing billable is absent
  fixture_->clock->set_unix_ms(kT0);
  store_->insert(batch);

  auto rows = store_->delivered_seconds(kT0, kT0 + kMinute);
  ASSERT_EQ(rows.size(), 2u) << "ast_c delivered nothing";
  EXPECT_EQ(rows[0].asset_id, "ast_a") << "sorted by asset id";
  EXPECT_EQ(rows[1].asset_id, "ast_b");
  EXPECT_NEAR(rows[0].media_seconds, 2.0 / 3, 1e-12) << "fractional seconds are not rounded";
  EXPECT_EQ(rows[0].events, 1);
  EXPECT_NEAR(rows[1].media_seconds, 4.0 + 1.0 / 3 + 0.125, 1e-12);
  EXPECT_EQ(rows[1].events, 3);
  EXPECT_TRUE(store_->delivered_seconds(kT0 - kHour, kT0).empty()) << "windows are ingest time, not event time";
}

TEST_P(AnalyticsContract, DeliveredSecondsCountAReplayOnceInItsFirstWindow) {
  std::vector<PlaybackEvent> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(event("ast_d", kT0 + i));
  fixture_->clock->set_unix_ms(kT0 + 30'000);
  store_->insert(batch);
  // The edge never saw the answer and replays the batch (plus a duplicate inside it)
  // in the next window; then once more after the backend merged its rows.
  fixture_->clock->set_unix_ms(kT0 + 90'000);
  auto replay = batch;
  replay.push_back(batch[0]);
  store_->insert(replay);
  auto check = [&](const char* when) {
    int64_t n = 0;
    EXPECT_NEAR(seconds_of(store_->delivered_seconds(kT0, kT0 + kMinute), "ast_d", &n), 5 * 4.0, 1e-12) << when;
    EXPECT_EQ(n, 5) << when;
    EXPECT_TRUE(store_->delivered_seconds(kT0 + kMinute, kT0 + 10 * kMinute).empty()) << when;
    EXPECT_NEAR(seconds_of(store_->delivered_seconds(kT0 - kHour, kT0 + kHour), "ast_d"), 5 * 4.0, 1e-12) << when;
  };
  check("after the replay");
  fixture_->compact();
  fixture_->clock->set_unix_ms(kT0 + 150'000);
  store_->insert(batch);
  check("after a merge and another replay");
  fixture_->compact();
  check("after a second merge");
}

TEST_P(AnalyticsContract, LateSpooledEventsFallInTheWindowTheyWereIngestedIn) {
  fixture_->clock->set_unix_ms(kT0 + 10'000);
  store_->insert({event("ast_l", kT0 + 9'000)});
  // Window [kT0, kT0 + 1 min) is billed. An edge then replays a spool served 3 h ago.
  ASSERT_NEAR(seconds_of(store_->delivered_seconds(kT0, kT0 + kMinute), "ast_l"), 4.0, 1e-12);
  fixture_->clock->set_unix_ms(kT0 + 90'000);
  auto late = event("ast_l", kT0 - 3 * kHour);
  late.media_seconds = 1.5;
  store_->insert({late});
  EXPECT_NEAR(seconds_of(store_->delivered_seconds(kT0, kT0 + kMinute), "ast_l"), 4.0, 1e-12)
      << "a billed window never changes";
  EXPECT_TRUE(store_->delivered_seconds(kT0 - 4 * kHour, kT0).empty()) << "nor does the window its ts_ms is in";
  int64_t n = 0;
  EXPECT_NEAR(seconds_of(store_->delivered_seconds(kT0 + kMinute, kT0 + 2 * kMinute), "ast_l", &n), 1.5, 1e-12)
      << "billed once, late";
  EXPECT_EQ(n, 1);
}

TEST_P(AnalyticsContract, DeliveredSecondsWindowsAreHalfOpenToTheMillisecond) {
  for (int64_t at : {kT0 - 1, kT0, kT0 + 999, kT0 + 1000, kT0 + 1001}) {
    fixture_->clock->set_unix_ms(at);
    store_->insert({event("ast_h", kT0)});
  }
  int64_t n = 0;
  EXPECT_NEAR(seconds_of(store_->delivered_seconds(kT0, kT0 + 1000), "ast_h", &n), 2 * 4.0, 1e-12);
  EXPECT_EQ(n, 2) << "from is inclusive, to exclusive";
  EXPECT_EQ(seconds_of(store_->delivered_seconds(kT0 + 1000, kT0 + 1001), "ast_h", &n), 4.0);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(seconds_of(store_->delivered_seconds(kT0 - 1, kT0 + 1002), "ast_h", &n), 5 * 4.0);
  EXPECT_TRUE(store_->delivered_seconds(kT0, kT0).empty()) << "an empty window";
  EXPECT_TRUE(store_->delivered_seconds(kT0 + 1002, kT0 + kHour).empty());
}

TEST_P(AnalyticsContract, EarliestUnbilledIngestIsTheFirstBillableFirstIngestion) {
  EXPECT_FALSE(store_->earliest_unbilled_ingest_ms(0)) << "nothing stored";
  auto refused = event("ast_e", kT0);
  refused.status = 403;
  fixture_->clock->set_unix_ms(kT0 + 5);
  store_->insert({refused, event("ast_e", kT0, "playlist")});
  EXPECT_FALSE(store_->earliest_unbilled_ingest_ms(0)) << "nothing billable";

  auto served = event("ast_e", kT0 - kHour);  // served long before it was ingested
  fixture_->clock->set_unix_ms(kT0 + 10);
  store_->insert({served});
  EXPECT_EQ(store_->earliest_unbilled_ingest_ms(0), kT0 + 10);
  EXPECT_EQ(store_->earliest_unbilled_ingest_ms(kT0 + 10), kT0 + 10) << "inclusive";
  EXPECT_FALSE(store_->earliest_unbilled_ingest_ms(kT0 + 11));

  fixture_->clock->set_unix_ms(kT0 + 500);
  store_->insert({served});  // a replay is no new usage
  fixture_->compact();
  EXPECT_EQ(store_->earliest_unbilled_ingest_ms(0), kT0 + 10);
  EXPECT_FALSE(store_->earliest_unbilled_ingest_ms(kT0 + 11));
  fixture_->clock->set_unix_ms(kT0 + 700);
  store_->insert({event("ast_f", kT0 + 600)});
  EXPECT_EQ(store_->earliest_unbilled_ingest_ms(kT0 + 11), kT0 + 700);
}

INSTANTIATE_TEST_SUITE_P(All, AnalyticsContract, ::testing::ValuesIn(kBackends), testing::ParamName());

}  // namespace
}  // namespace rend::store
