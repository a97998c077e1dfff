// The one translation unit that compiles Boost.JSON (header-only mode): every other
// file includes <boost/json.hpp> and links rend_core.
#include <boost/json/src.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/json.h"

namespace rend::core {
namespace {

// A basic_parser handler that only remembers each open object's keys. Boost.JSON
// 1.81 (Debian 12) keeps the last of duplicate keys without saying so, and has no
// option to refuse them, so this pass is hand-written: a body whose meaning depends
// on which duplicate a parser keeps must not reach a handler.
struct DuplicateKeyFinder {
  constexpr static std::size_t max_object_size = std::size_t(-1);
  constexpr static std::size_t max_array_size = std::size_t(-1);
  constexpr static std::size_t max_key_size = std::size_t(-1);
  constexpr static std::size_t max_string_size = std::size_t(-1);

  std::vector<std::unordered_set<std::string>> open;
  std::string key;
  bool duplicate = false;

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    open.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, boost::json::error_code&) {
    open.pop_back();
    return true;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code& ec) {
    key.append(s.data(), s.size());
    if (!open.back().insert(std::move(key)).second) {
      duplicate = true;
      ec = boost::json::make_error_code(boost::json::error::syntax);
      key.clear();
      return false;  // stop at the first duplicate
    }
    key.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(int64_t, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_uint64(uint64_t, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_double(double, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_bool(bool, boost::json::error_code&) { return true; }
  bool on_null(boost::json::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }
};

}  // namespace

std::optional<boost::json::value> parse_json_strict(std::string_view text) {
  boost::json::error_code ec;
  {
    boost::json::basic_parser<DuplicateKeyFinder> finder{boost::json::parse_options{}};
    finder.write_some(false, text.data(), text.size(), ec);
    if (ec || finder.handler().duplicate) return std::nullopt;
  }
  auto v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

}  // namespace rend::core

namespace rend::core {
namespace {

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == 0) {  // -0 too: a sign on nothing only confuses readers
    out += '0';
    return;
  }
  char buf[64];
  double mag = std::fabs(d);
  // std::to_chars without a precision is the shortest text that reads back as the
  // same double; fixed notation for the magnitudes people read, exponent beyond.
  auto fmt = (mag >= 1e21 || mag < 1e-6) ? std::chars_format::scientific : std::chars_format::fixed;
  auto r = std::to_chars(buf, buf + sizeof buf, d, fmt);
  out.append(buf, r.ptr);
}

void write(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); return;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); return;
    case boost::json::kind::double_: write_double(out, v.get_double()); return;
    case boost::json::kind::string: out += boost::json::serialize(v.get_string()); return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write(out, e);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += boost::json::serialize(kv.key());
        out += ':';
        write(out, kv.value());
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string serialize_json(const boost::json::value& v) {
  std::string out;
  write(out, v);
  return out;
}

}  // namespace rend::core
