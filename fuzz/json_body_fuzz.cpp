// JSON request bodies, parsed as every API handler does (api/json_body.h), up to the
// API's request body limit. Invariant: an accepted body is an object that serializes
// and re-parses to an equal value.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <string>

#include "api/json_body.h"
#include "fuzz_util.h"

using namespace rend;

namespace {

// Equal, doubles within a relative 1e-14: Boost 1.81's parser reads decimals fast
// but not always to the nearest double, so a re-parse may differ in the last bit.
bool close(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    return x == y || std::abs(x - y) <= 1e-14 * std::max(std::abs(x), std::abs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
      if (!close(p[i], q[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& kv : p) {
      const auto* other = q.if_contains(kv.key());
      if (!other || !close(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// Boost.JSON reads a number beyond double's range (1e400) as infinity, and writes
// infinity as 1e99999, which it then refuses to read: reported, see docs/fuzzing.md.
bool has_infinity(const boost::json::value& v) {
  if (v.is_double()) return !std::isfinite(v.get_double());
  if (v.is_array())
    return std::any_of(v.get_array().begin(), v.get_array().end(), [](const auto& x) { return has_infinity(x); });
  if (v.is_object())
    return std::any_of(v.get_object().begin(), v.get_object().end(),
                       [](const auto& kv) { return has_infinity(kv.value()); });
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const auto obj = api::parse_json_object(body);
  if (!obj) return 0;
  const std::string text = boost::json::serialize(*obj);
  const auto again = api::parse_json_object(text);
  if (!again && has_infinity(boost::json::value(*obj))) return 0;
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(close(boost::json::value(*again), boost::json::value(*obj)));
  return 0;
}
