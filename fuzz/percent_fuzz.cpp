// Percent-encoding (core/percent.h): the query-string decoder reads what clients send,
// the strict one reads configuration. Invariants: encoding keeps only the unreserved
// set (and '/' when asked) plus %XX in upper case, and both decoders invert it; the
// strict decoder accepts exactly the inputs whose every '%' starts an escape, and then
// agrees with the lenient one.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/percent.h"
#include "fuzz_util.h"

using namespace rend;

namespace {
bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  for (auto keep : {core::PercentKeep::unreserved, core::PercentKeep::unreserved_and_slash}) {
    const std::string enc = core::percent_encode(in, keep);
    for (size_t i = 0; i < enc.size(); ++i) {
      if (enc[i] == '%') {
        FUZZ_CHECK(i + 2 < enc.size());
        for (char h : {enc[i + 1], enc[i + 2]}) FUZZ_CHECK((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'));
        i += 2;
      } else {
        FUZZ_CHECK(unreserved(enc[i]) || (keep == core::PercentKeep::unreserved_and_slash && enc[i] == '/'));
      }
    }
    FUZZ_CHECK(core::percent_decode(enc) == in);
    FUZZ_CHECK(core::percent_decode_strict(enc) == in);
  }

  bool well_formed = true;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] == '%') {
      if (i + 2 >= in.size() || !hex_digit(in[i + 1]) || !hex_digit(in[i + 2])) {
        well_formed = false;
        break;
      }
      i += 2;
    }
  const auto strict = core::percent_decode_strict(in);
  FUZZ_CHECK(strict.has_value() == well_formed);
  if (strict) FUZZ_CHECK(*strict == core::percent_decode(in));
  const std::string lenient = core::percent_decode(in, true);
  FUZZ_CHECK(lenient.size() <= in.size());
  return 0;
}
