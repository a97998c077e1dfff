// The telemetry batch codec (the API decodes what edges send). Invariants: decoding
// never crashes or throws; an accepted batch re-encodes to a batch that decodes to
// the same events, and encoding that again is a fixed point.
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
         a.cache == b.cache && a.ttfb_ms == b.ttfb_ms && a.duration_ms == b.duration_ms;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto first = telemetry::decode_batch(body, 1000);
  if (!first.ok()) {
    FUZZ_CHECK(first.events.empty() || true);
    return 0;
  }
  FUZZ_CHECK(!first.events.empty() && first.events.size() <= 1000);
  for (const auto& e : first.events) {
    FUZZ_CHECK(!telemetry::check_event(e).has_value());
    FUZZ_CHECK(e.batch_id == first.batch_id);
  }
  const std::string once = telemetry::encode_batch(first.batch_id, first.events);
  const auto second = telemetry::decode_batch(once, 1000);
  if (!second.ok()) {
    std::fprintf(stderr, "re-encoded batch refused: %s\n", second.error.c_str());
    FUZZ_CHECK(second.ok());
  }
  FUZZ_CHECK(second.batch_id == first.batch_id);
  FUZZ_CHECK(second.events.size() == first.events.size());
  for (size_t i = 0; i < first.events.size(); ++i) {
    FUZZ_CHECK(same(first.events[i], second.events[i]));
    // Three decimals on the wire.
    FUZZ_CHECK(std::abs(first.events[i].media_seconds - second.events[i].media_seconds) <= 0.0005 + 1e-9);
  }
  FUZZ_CHECK(telemetry::encode_batch(second.batch_id, second.events) == once);
  return 0;
}
