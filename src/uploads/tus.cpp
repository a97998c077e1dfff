#include "uploads/tus.h"

#include <openssl/evp.h>

#include <charconv>
#include <ctime>
#include <stdexcept>

#include "core/crypto.h"

namespace rend::uploads {

std::optional<int64_t> parse_size(std::string_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  for (char c : v)
    if (c < '0' || c > '9') return std::nullopt;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

std::optional<std::string> base64_decode(std::string_view v) {
  if (v.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '=') {
      // Only the last one or two characters may be padding.
      if (i + 2 < v.size()) return std::nullopt;
      ++pad;
    } else if (pad > 0 || !(alnum || c == '+' || c == '/')) {
      return std::nullopt;
    }
  }
  std::string out(v.size() / 4 * 3, '\0');
  if (v.empty()) return out;
  // EVP_DecodeBlock decodes whole groups and counts the padding as zero bytes.
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(v.data()), int(v.size()));
  if (n < 0 || size_t(n) != out.size()) return std::nullopt;
  out.resize(out.size() - pad);
  // Canonical encodings only (RFC 4648 section 3.5): "hdX=" and "hdU=" would otherwise
  // both decode to the same bytes, the low bits of the last symbol silently dropped.
  if (core::base64_encode(out) != v) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> parse_metadata(std::string_view v) {
  std::map<std::string, std::string> out;
  if (v.empty()) return out;
  size_t start = 0;
  for (;;) {
    const size_t comma = v.find(',', start);
    std::string_view pair = v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // Optional whitespace around pairs (tus-js-client sends none; others may).
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    const size_t space = pair.find(' ');
    const std::string_view key = pair.substr(0, space);
    if (key.empty()) return std::nullopt;
    for (char c : key)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return std::nullopt;
    std::string value;
    if (space != std::string_view::npos) {
      auto decoded = base64_decode(pair.substr(space + 1));
      if (!decoded) return std::nullopt;
      value = std::move(*decoded);
    }
    if (!out.emplace(std::string(key), std::move(value)).second) return std::nullopt;
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::optional<Checksum> parse_checksum(std::string_view v) {
  const size_t space = v.find(' ');
  if (space == std::string_view::npos || space == 0) return std::nullopt;
  auto digest = base64_decode(v.substr(space + 1));
  if (!digest || digest->empty()) return std::nullopt;
  return Checksum{std::string(v.substr(0, space)), std::move(*digest)};
}

std::string http_date(int64_t unix_ms) {
  const std::time_t t = std::time_t(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  // The C locale's names are the ones RFC 9110 requires.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("sha1 init failed");
}
Sha1::~Sha1() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha1::update(const char* data, size_t n) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n) != 1) throw std::runtime_error("sha1 update failed");
}
std::string Sha1::digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n) != 1) throw std::runtime_error("sha1 final failed");
  return std::string(reinterpret_cast<char*>(md), n);
}

}  // namespace rend::uploads
