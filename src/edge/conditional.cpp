#include "edge/conditional.h"

#include "core/strings.h"

namespace rend::edge {
namespace {

// 1*DIGIT. A value beyond uint64 saturates: "a position past any object" keeps its
// meaning (unsatisfiable first, clamped last, whole-object suffix).
bool parse_pos(std::string_view s, uint64_t& v) {
  if (s.empty()) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  return true;
}

bool unit_is_bytes(std::string_view u) {
  constexpr std::string_view kBytes = "bytes";
  if (u.size() != kBytes.size()) return false;
  for (size_t i = 0; i < u.size(); ++i)
    if ((u[i] | 0x20) != kBytes[i]) return false;
  return true;
}

// etagc = %x21 / %x23-7E / obs-text
bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7F); }

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE at the start of s; returns the
// opaque tag's content and consumes it from s.
bool take_entity_tag(std::string_view& s, std::string_view& opaque) {
  if (s.size() >= 2 && s[0] == 'W' && s[1] == '/') s.remove_prefix(2);
  if (s.empty() || s[0] != '"') return false;
  size_t end = 1;
  while (end < s.size() && s[end] != '"') {
    if (!is_etagc(static_cast<unsigned char>(s[end]))) return false;
    ++end;
  }
  if (end == s.size()) return false;  // no closing quote
  opaque = s.substr(1, end - 1);
  s.remove_prefix(end + 1);
  return true;
}

}  // namespace

RangeParse parse_range(std::string_view header, uint64_t size) {
  RangeParse out;
  auto eq = header.find('=');
  if (eq == std::string_view::npos || !unit_is_bytes(header.substr(0, eq))) return out;
  // range-set = 1#range-spec: exactly one non-empty element is served.
  std::string_view spec;
  int elements = 0;
  for (std::string_view rest = header.substr(eq + 1);;) {
    auto comma = rest.find(',');
    auto el = core::trim_ows(rest.substr(0, comma));
    if (!el.empty()) {
      if (++elements > 1) return out;
      spec = el;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (elements == 0) return out;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return out;
  auto a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix-range: the last b bytes
    if (!parse_pos(b, last)) return out;
    if (last == 0 || size == 0) {
      out.result = RangeParse::unsatisfiable;
      return out;
    }
    out.result = RangeParse::satisfiable;
    out.range = {size - (last < size ? last : size), size - 1};
    return out;
  }
  if (!parse_pos(a, first)) return out;
  if (!b.empty()) {
    if (!parse_pos(b, last) || last < first) return out;
  } else {
    last = UINT64_MAX;
  }
  if (first >= size) {
    out.result = RangeParse::unsatisfiable;
    return out;
  }
  out.result = RangeParse::satisfiable;
  out.range = {first, last < size - 1 ? last : size - 1};
  return out;
}

bool if_none_match_matches(std::string_view header, std::string_view etag) {
  std::string_view ours;
  if (!take_entity_tag(etag, ours) || !etag.empty()) return false;
  header = core::trim_ows(header);
  if (header == "*") return true;
  // 1#entity-tag: elements separated by commas with optional whitespace; empty
  // elements are skipped. A comma inside quotes belongs to the tag.
  for (std::string_view rest = header;;) {
    while (!rest.empty() && (core::is_ows(rest.front()) || rest.front() == ',')) rest.remove_prefix(1);
    if (rest.empty()) return false;
    std::string_view theirs;
    if (!take_entity_tag(rest, theirs)) return false;
    if (theirs == ours) return true;
    rest = core::trim_ows(rest);
    if (!rest.empty() && rest.front() != ',') return false;
  }
}

}  // namespace rend::edge
