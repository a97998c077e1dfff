#pragma once
// The wire format of a telemetry batch, POSTed by an edge to the API's
// /internal/telemetry (SPEC §7). One codec for both sides, so they cannot drift:
// the edge encodes (and spools the encoded text), the API decodes.
//
//   {"batch_id":"bat_…","edge_id":"edge-a","events":[
//     {"event_id":"evt_…","ts_ms":1800000000000,"edge_id":"edge-a","region":"eu",
//      "asset_id":"ast_…","artifact":"720p/seg_00001.ts","kind":"segment","tier":"720p",
//      "session_id":"…","status":200,"bytes":1000,"cache":"HIT","ttfb_ms":3,
//      "duration_ms":12,"media_seconds":4.000}, …]}
//
// Rules decode_batch() enforces (check_event() exposes the per-event ones, so an edge
// can drop and count an event that would poison its whole batch):
//   - batch_id, edge_id (batch and event), event_id, region: required, non-empty;
//     asset_id, tier, session_id: required, may be empty (a response not tied to an
//     asset or tier; an unknown viewer). All of these: at most 128 characters of
//     [A-Za-z0-9._:-].
//   - artifact: required, may be empty, at most 512 characters of [A-Za-z0-9._~/-].
//   - kind: master | playlist | segment | poster | other; cache: HIT | MISS.
//   - ts_ms, bytes, ttfb_ms, duration_ms: integers, 0 ≤ value < 2^53 (exact in any
//     JSON reader); ts_ms before 2106 (ClickHouse DateTime).
//   - status: an integer HTTP status, 100..599.
//   - media_seconds: a number, finite, 0 ≤ value ≤ 86400 (one segment's duration).
//   - events: a non-empty array of objects. Unknown fields are ignored (an edge newer
//     than the API may send more).
// The batch's batch_id is copied into every decoded event.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/analytics.h"

namespace rend::telemetry {

// The event is the analytics store's row (store/analytics.h): the store owns its schema,
// telemetry owns how events are made, encoded, queued, spooled and ingested.
using store::PlaybackEvent;

// Appends nothing but the batch: no DOM, one growing string. The batch-level edge_id
// is the first event's (an edge only sends its own events). events[i].batch_id is
// ignored; `batch_id` is written instead. Doubles are written in fixed notation with
// three decimals; a NaN or negative media_seconds is written as 0 (it would be
// refused, and would make the whole batch undeliverable).
std::string encode_batch(const std::string& batch_id, const std::vector<PlaybackEvent>& events);

struct DecodeResult {
  std::string batch_id;
  std::string edge_id;
  std::vector<PlaybackEvent> events;
  // Empty when the batch is valid; otherwise names the first bad field, e.g.
  // "events[3].status must be an integer". The message never echoes field values.
  std::string error;
  bool ok() const { return error.empty(); }
};

// Parses and validates the whole batch; never throws on bad input. A batch with more
// than max_events events is refused (the body limit bounds bytes, this bounds rows).
DecodeResult decode_batch(std::string_view body, size_t max_events);

// The per-event rules above; nullopt when `e` is valid, else the problem, with the
// field name prefixed by `where` (e.g. "events[3]."). Used by decode_batch and by
// edges before they queue an event.
std::optional<std::string> check_event(const PlaybackEvent& e, std::string_view where = "");

}  // namespace rend::telemetry
