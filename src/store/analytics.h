#pragma once
// Playback analytics: one row per viewer response at an edge (SPEC §7).
//
// Implementations: sqlite/ (a table in the embedded database; the default) and
// clickhouse/ (HTTP interface, production). One contract suite
// (analytics_contract_test.cpp) runs against each.
//
// Idempotency: every event carries a globally unique event_id. insert() may be
// called again with events already stored (an edge replaying its spool after a
// timeout whose first attempt did land); summaries count each event_id once.
//
// Two clocks: ts_ms is when the edge served the response (summaries and dashboards
// range over it); the ingest time is when this store FIRST stored the event_id, read
// from the store's own clock. Billing windows range over the first ingest time, so
// telemetry an edge spooled and replays hours later lands in a later window instead
// of one already billed, and a replay of an event already stored changes nothing
// (docs/billing-usage.md).
//
// Privacy: events never carry an IP address, cookie, token or signed URL.
//
// Thread-safety: all methods may be called concurrently.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/packed_rows.h"

namespace rend::store {

struct PlaybackEvent {
  std::string event_id;  // unique, e.g. "evt_..." (idempotency key)
  std::string batch_id;  // the edge batch it arrived in
  int64_t ts_ms = 0;     // response start, unix ms
  std::string edge_id;
  std::string region;
  std::string asset_id;
  std::string artifact;    // path inside the asset, e.g. "720p/seg_00001.ts"
  std::string kind;        // master | playlist | segment | poster | other
  std::string tier;        // "720p"; empty for master/poster
  std::string session_id;  // opaque per-viewer playback session (hash of the credential), for views
  int status = 0;
  int64_t bytes = 0;
  std::string cache;  // HIT | MISS
  int64_t ttfb_ms = 0;
  int64_t duration_ms = 0;
  double media_seconds = 0;  // media duration carried by a segment; 0 otherwise
};

// Appends the events of `p` (store/packed_rows.h) to `out`, batch_id included. Throws
// std::runtime_error when the rows do not hold `count` whole rows (a corrupt record).
inline void unpack_rows(const PackedRows& p, std::vector<PlaybackEvent>& out) {
  RowReader r(p.rows);
  constexpr uint64_t kMax = uint64_t(1) << 20;
  for (size_t i = 0; i < p.count; ++i) {
    auto& e = out.emplace_back();
    e.batch_id = p.batch_id;
    std::string_view s[9];
    int32_t status = 0;
    bool ok = r.str(s[0], kMax) && r.fixed(e.ts_ms) && r.str(s[1], kMax) && r.str(s[2], kMax) && r.str(s[3], kMax) &&
              r.str(s[4], kMax) && r.str(s[5], kMax) && r.str(s[6], kMax) && r.str(s[7], kMax) && r.fixed(status) &&
              r.fixed(e.bytes) && r.str(s[8], kMax) && r.fixed(e.ttfb_ms) && r.fixed(e.duration_ms) &&
              r.fixed(e.media_seconds);
    if (!ok) throw std::runtime_error("packed telemetry rows are truncated");
    e.event_id = s[0];
    e.edge_id = s[1];
    e.region = s[2];
    e.asset_id = s[3];
    e.artifact = s[4];
    e.kind = s[5];
    e.tier = s[6];
    e.session_id = s[7];
    e.status = status;
    e.cache = s[8];
  }
  if (r.left()) throw std::runtime_error("packed telemetry rows have trailing bytes");
}

// Appends `e` as one packed row (store/packed_rows.h's layout; batch_id is the batch's,
// not the row's). A NaN or negative media_seconds is written as 0, as every writer of
// events does. The one writer of that layout: the telemetry wire encoder and tests use it.
inline void append_packed_row(std::string& out, const PlaybackEvent& e) {
  put_packed_string(out, e.event_id);
  put_packed_fixed(out, int64_t(e.ts_ms));
  put_packed_string(out, e.edge_id);
  put_packed_string(out, e.region);
  put_packed_string(out, e.asset_id);
  put_packed_string(out, e.artifact);
  put_packed_string(out, e.kind);
  put_packed_string(out, e.tier);
  put_packed_string(out, e.session_id);
  put_packed_fixed(out, int32_t(e.status));
  put_packed_fixed(out, int64_t(e.bytes));
  put_packed_string(out, e.cache);
  put_packed_fixed(out, int64_t(e.ttfb_ms));
  put_packed_fixed(out, int64_t(e.duration_ms));
  put_packed_fixed(out, std::isfinite(e.media_seconds) && e.media_seconds > 0 ? e.media_seconds : 0.0);
}

struct TierMinutes {
  std::string tier;
  double minutes = 0;
};

struct UsageSummary {
  std::string key;     // asset id, or edge id for per-edge rows
  std::string region;  // per-edge rows only
  int64_t requests = 0;
  int64_t views = 0;  // distinct session_id served at least one segment (200/206, bytes > 0)
  int64_t bytes = 0;
  int64_t hits = 0;
  int64_t misses = 0;
  double ttfb_p50_ms = 0;
  double ttfb_p95_ms = 0;
  std::vector<TierMinutes> delivered_minutes;  // 200/206 segments with bytes > 0; sorted by tier name
};

// Billable delivery of one asset over a window of first-ingest time.
struct AssetDelivery {
  std::string asset_id;
  double media_seconds = 0;  // sum of the events' media_seconds (already in proportion to bytes sent); unrounded
  int64_t events = 0;        // distinct event ids counted
};

class AnalyticsStore {
 public:
  virtual ~AnalyticsStore() = default;
  // Creates database/tables if missing. Idempotent; safe on every start.
  virtual void ensure_schema() = 0;
  virtual bool healthy() = 0;
  // Stores events; events whose event_id is already stored are not counted twice.
  virtual void insert(const std::vector<PlaybackEvent>& events) = 0;
  // The same for events packed as the telemetry wire carries them (store/packed_rows.h),
  // in one insert. A store that can write the rows as they are (ClickHouse: RowBinary)
  // overrides this; the default unpacks them and calls insert().
  virtual void insert_packed(const std::vector<PackedRows>& batches) {
    std::vector<PlaybackEvent> events;
    size_t n = 0;
    for (const auto& b : batches) n += b.count;
    events.reserve(n);
    for (const auto& b : batches) unpack_rows(b, events);
    insert(events);
  }
  // Over [from_ms, to_ms). nullopt when the asset has no events in the range.
  virtual std::optional<UsageSummary> asset_summary(const std::string& asset_id, int64_t from_ms, int64_t to_ms) = 0;
  // One row per edge with events in [from_ms, to_ms), sorted by edge id.
  virtual std::vector<UsageSummary> edge_summaries(int64_t from_ms, int64_t to_ms) = 0;

  // Delivered media per asset, sorted by asset id, over the segment events served with
  // status 200/206 and bytes > 0 whose FIRST ingestion is in [from_ingest_ms,
  // to_ingest_ms). Each event_id counts once, in the window of its first ingestion
  // only: a later replay of it counts nowhere. Assets with nothing billable are absent.
  virtual std::vector<AssetDelivery> delivered_seconds(int64_t from_ingest_ms, int64_t to_ingest_ms) = 0;
  // The earliest first-ingest time at or after `from_ingest_ms` of an event that
  // delivered_seconds() would count; nullopt when there is none. Lets billing start its
  // first window at the first usage rather than at time 0, and skip idle stretches.
  // Always safe as a window start: no billable event has its first ingestion in
  // [from_ingest_ms, result). (ClickHouse may return an earlier replay's time instead
  // when dozens of distinct replay times precede the answer; still safe.)
  virtual std::optional<int64_t> earliest_unbilled_ingest_ms(int64_t from_ingest_ms) = 0;
};

}  // namespace rend::store
