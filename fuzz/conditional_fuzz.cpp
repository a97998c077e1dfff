// Range and If-None-Match (edge/conditional.h): total on any input, and a
// satisfiable range always lies inside the object. Input: the object size as the
// first line (decimal), the Range header as the second, the rest If-None-Match
// against a fixed strong tag.
#include <charconv>
#include <cstdint>
#include <string_view>

#include "edge/conditional.h"
#include "fuzz_util.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view size_line = fuzz::take_line(in);
  const std::string_view range = fuzz::take_line(in);
  uint64_t object_size = 0;
  std::from_chars(size_line.data(), size_line.data() + size_line.size(), object_size);

  const auto r = edge::parse_range(range, object_size);
  if (r.result == edge::RangeParse::satisfiable) {
    FUZZ_CHECK(object_size > 0);
    FUZZ_CHECK(r.range.first <= r.range.last);
    FUZZ_CHECK(r.range.last < object_size);
  }
  if (object_size == 0) FUZZ_CHECK(r.result != edge::RangeParse::satisfiable);

  const std::string_view etag = "\"1f-18c\"";
  const bool m = edge::if_none_match_matches(in, etag);
  // "*" alone always matches; the exact tag alone, strong or weak, always matches.
  if (in == "*" || in == etag || in == "W/\"1f-18c\"") FUZZ_CHECK(m);
  // A value without the opaque tag and without "*" can never match.
  if (in.find("1f-18c") == std::string_view::npos && in.find('*') == std::string_view::npos) FUZZ_CHECK(!m);
  return 0;
}
