#include "core/percent.h"

namespace rend::core {
namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of the escape at s[i] ('%'), or -1 when two hex digits do not follow.
int escaped_byte(std::string_view s, size_t i) {
  if (i + 2 >= s.size()) return -1;
  int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

std::string percent_encode(std::string_view s, PercentKeep keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const bool keep_slash = keep == PercentKeep::unreserved_and_slash;
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (int b = escaped_byte(s, i); b >= 0) {
        out += char(b);
        i += 2;
        continue;
      }
    }
    out += (plus_as_space && s[i] == '+') ? ' ' : s[i];
  }
  return out;
}

std::optional<std::string> percent_decode_strict(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int b = escaped_byte(s, i);
    if (b < 0) return std::nullopt;
    out += char(b);
    i += 2;
  }
  return out;
}

}  // namespace rend::core
