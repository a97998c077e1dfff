// The telemetry binary v1 codec (the API checks what edges send, in place). Invariants:
// checking never crashes, throws or reads past the body; an accepted batch's rows are
// exactly `count` whole rows ending at the body's end; it decodes to events that pass
// check_event; re-encoding those gives a batch that checks and decodes to the same
// events, and encoding again is a fixed point.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "telemetry/wire.h"

using namespace rend;

namespace {

bool same(const store::PlaybackEvent& a, const store::PlaybackEvent& b) {
  return a.event_id == b.event_id && a.batch_id == b.batch_id && a.ts_ms == b.ts_ms && a.edge_id == b.edge_id &&
         a.region == b.region && a.asset_id == b.asset_id && a.artifact == b.artifact && a.kind == b.kind &&
         a.tier == b.tier && a.session_id == b.session_id && a.status == b.status && a.bytes == b.bytes &&
         a.cache == b.cache && a.ttfb_ms == b.ttfb_ms && a.duration_ms == b.duration_ms &&
         a.media_seconds == b.media_seconds;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto checked = telemetry::check_binary_batch(body, 1000);
  const auto first = telemetry::decode_batch(body, 1000);
  if (!checked.ok()) {
    FUZZ_CHECK(checked.rows.count == 0);
    // A body that is not binary goes to the JSON decoder; a binary one fails the same way.
    if (telemetry::is_binary_batch(body)) FUZZ_CHECK(first.error == checked.error && first.events.empty());
    return 0;
  }
  FUZZ_CHECK(first.ok());
  FUZZ_CHECK(checked.rows.count >= 1 && checked.rows.count <= 1000);
  FUZZ_CHECK(checked.rows.rows.data() + checked.rows.rows.size() == body.data() + body.size());
  store::RowReader r(checked.rows.rows);
  FUZZ_CHECK(store::skip_rows(r, checked.rows.count) && r.left() == 0);
  FUZZ_CHECK(first.events.size() == checked.rows.count);
  for (const auto& e : first.events) {
    FUZZ_CHECK(!telemetry::check_event(e).has_value());
    FUZZ_CHECK(e.batch_id == first.batch_id);
  }
  const std::string once = telemetry::encode_batch_binary(first.batch_id, first.events);
  const auto second = telemetry::decode_batch(once, 1000);
  if (!second.ok()) {
    std::fprintf(stderr, "re-encoded batch refused: %s\n", second.error.c_str());
    FUZZ_CHECK(second.ok());
  }
  FUZZ_CHECK(second.batch_id == first.batch_id);
  FUZZ_CHECK(second.events.size() == first.events.size());
  for (size_t i = 0; i < first.events.size(); ++i) FUZZ_CHECK(same(first.events[i], second.events[i]));
  FUZZ_CHECK(telemetry::encode_batch_binary(second.batch_id, second.events) == once);
  return 0;
}
