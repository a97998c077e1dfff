// Query parameters of the analytics and listing endpoints: the from/to time range
// and the asset list cursor. Input: "<from>\n<to>\n<cursor>".
// Invariants: an accepted range has 0 <= from < to; an accepted cursor re-encodes
// to itself; nothing else but std::invalid_argument is thrown for a bad cursor.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "api/analytics_range.h"
#include "fuzz_util.h"
#include "store/codec.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view from = fuzz::take_line(in);
  const std::string_view to = fuzz::take_line(in);
  const std::string_view cursor = fuzz::take_line(in);
  constexpr int64_t kNow = 1'800'000'000'000;

  (void)api::parse_time_ms(from);
  const auto range =
      api::parse_time_range(from.empty() ? std::nullopt : std::optional<std::string>(from),
                            to.empty() ? std::nullopt : std::optional<std::string>(to), kNow, 86'400'000);
  if (const auto* r = std::get_if<api::TimeRange>(&range)) {
    FUZZ_CHECK(r->from_ms >= 0);
    FUZZ_CHECK(r->from_ms < r->to_ms);
  } else {
    FUZZ_CHECK(!std::get<std::string>(range).empty());
  }

  try {
    const auto c = store::decode_asset_cursor(cursor);
    FUZZ_CHECK(store::encode_asset_cursor(c) == cursor);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
