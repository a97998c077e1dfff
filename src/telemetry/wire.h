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
//
// Binary format v1, Content-Type application/vnd.rend.telemetry.v1 (what edges send;
// JSON stays accepted for older edges, docs and hand-written tests). Close to
// ClickHouse's RowBinary so the API checks each field where it lies and journals and
// inserts the bytes as they arrived (store/packed_rows.h), without building events:
//
//   "RNDT" | u8 version = 1 | batch_id S | edge_id S | u32 count (LE) | count rows
//
// where S is a LEB128 length then the bytes, and each row is the packed row of
// store/packed_rows.h (event_id S, ts_ms i64, edge_id S, region S, asset_id S,
// artifact S, kind S, tier S, session_id S, status i32, bytes i64, cache S,
// ttfb_ms i64, duration_ms i64, media_seconds f64; little-endian). The rules are the
// JSON ones above (same messages); besides: count ≥ 1, nothing after the last row, a
// truncated body or a length beyond the field's limit is refused (no allocation is
// sized by a length or count the body states). There are no unknown fields: a newer
// format is a new version (magic byte and Content-Type).
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/analytics.h"

namespace rend::telemetry {

// The event is the analytics store's row (store/analytics.h): the store owns its schema,
// telemetry owns how events are made, encoded, queued, spooled and ingested.
using store::PlaybackEvent;

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kBinaryContentType = "application/vnd.rend.telemetry.v1";
inline constexpr std::string_view kBinaryMagic = "RNDT\x01";

// True when `body` starts like a binary v1 batch (a JSON body starts with '{' or space).
inline bool is_binary_batch(std::string_view body) { return body.substr(0, kBinaryMagic.size()) == kBinaryMagic; }
// The Content-Type of a body an encoder produced (the edge's sender, and its spool
// holding bodies of either format).
inline std::string_view content_type_of(std::string_view body) {
  return is_binary_batch(body) ? kBinaryContentType : kJsonContentType;
}

// Appends nothing but the batch: no DOM, one growing string. The batch-level edge_id
// is the first event's (an edge only sends its own events). events[i].batch_id is
// ignored; `batch_id` is written instead. Doubles are written in fixed notation with
// three decimals; a NaN or negative media_seconds is written as 0 (it would be
// refused, and would make the whole batch undeliverable).
std::string encode_batch(const std::string& batch_id, std::span<const PlaybackEvent> events);

// The binary v1 encoding of the same batch (header above). The same normalisation as
// encode_batch: batch edge_id is the first event's; a NaN or negative media_seconds is
// written as 0. Strings longer than the format allows are written as they are (the API
// refuses them; edges check_event() before queueing).
std::string encode_batch_binary(const std::string& batch_id, std::span<const PlaybackEvent> events);

// A binary batch checked in place: views into the body, nothing copied or allocated
// (unless there is an error to describe).
struct BinaryBatch {
  std::string_view batch_id;
  std::string_view edge_id;
  store::PackedRows rows;  // rows.batch_id == batch_id
  std::string error;       // as DecodeResult::error
  bool ok() const { return error.empty(); }
};

// Validates a binary v1 body by every rule above; never throws on bad input.
BinaryBatch check_binary_batch(std::string_view body, size_t max_events);

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
// A body that is_binary_batch() is decoded as binary v1, anything else as JSON (both
// into events; the API's ClickHouse path uses check_binary_batch instead).
DecodeResult decode_batch(std::string_view body, size_t max_events);

// The per-event rules above; nullopt when `e` is valid, else the problem, with the
// field name prefixed by `where` (e.g. "events[3]."). Used by decode_batch and by
// edges before they queue an event.
std::optional<std::string> check_event(const PlaybackEvent& e, std::string_view where = "");

}  // namespace rend::telemetry
