#include "http/outbound.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <memory>

namespace rend::http {
namespace {

// IPv4 ranges no customer URL may reach (RFC 6890 special-purpose registry, minus
// the globally reachable ones). Address and prefix length, host byte order.
// `kPrivate` ranges are what REND_ALLOW_PRIVATE_OUTBOUND_URLS lets through (tests
// with receivers on loopback); `kNever` ranges stay refused even then: the cloud
// metadata service lives at link-local 169.254.169.254, and nothing legitimate is
// multicast or reserved.
enum class Reach { kPublic, kPrivate, kNever };
struct Range4 {
  uint32_t net;
  int bits;
  Reach reach;
};
constexpr Range4 kRanges4[] = {
    {0x00000000, 8, Reach::kNever},     // 0.0.0.0/8 "this network" (0.0.0.0 reaches the host itself)
    {0x0A000000, 8, Reach::kPrivate},   // 10/8 private
    {0x64400000, 10, Reach::kPrivate},  // 100.64/10 carrier-grade NAT
    {0x7F000000, 8, Reach::kPrivate},   // 127/8 loopback
    {0xA9FE0000, 16, Reach::kNever},    // 169.254/16 link-local, cloud metadata at 169.254.169.254
    {0xAC100000, 12, Reach::kPrivate},  // 172.16/12 private
    {0xC0000000, 24, Reach::kNever},    // 192.0.0/24 IETF protocol assignments
    {0xC0000200, 24, Reach::kNever},    // 192.0.2/24 documentation
    {0xC0A80000, 16, Reach::kPrivate},  // 192.168/16 private
    {0xC6120000, 15, Reach::kNever},    // 198.18/15 benchmarking
    {0xC6336400, 24, Reach::kNever},    // 198.51.100/24 documentation
    {0xCB007100, 24, Reach::kNever},    // 203.0.113/24 documentation
    {0xE0000000, 4, Reach::kNever},     // 224/4 multicast
    {0xF0000000, 4, Reach::kNever},     // 240/4 reserved, and 255.255.255.255 broadcast
};

Reach v4_reach(uint32_t a) {
  for (const auto& r : kRanges4) {
    uint32_t mask = ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.net) return r.reach;
  }
  return Reach::kPublic;
}

uint32_t v4_at(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

Reach v6_reach(const uint8_t* b) {
  static constexpr std::array<uint8_t, 10> kZero10{};
  bool first10_zero = std::memcmp(b, kZero10.data(), 10) == 0;
  // ::ffff:a.b.c.d (mapped): the IPv4 rules decide. Otherwise a zero prefix is ::1
  // (loopback), :: or the deprecated ::a.b.c.d (compatible), both refused.
  if (first10_zero && b[10] == 0xff && b[11] == 0xff) return v4_reach(v4_at(b + 12));
  if (first10_zero && b[10] == 0 && b[11] == 0) {
    static constexpr std::array<uint8_t, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(b, kLoopback.data(), 16) == 0 ? Reach::kPrivate : Reach::kNever;
  }
  // 64:ff9b::/96 NAT64 and 64:ff9b:1::/48 local-use NAT64 reach an embedded IPv4.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    bool well_known = std::memcmp(b + 4, kZero10.data(), 8) == 0;
    if (well_known) return v4_reach(v4_at(b + 12));
    return Reach::kNever;
  }
  if (b[0] == 0x20 && b[1] == 0x02) return v4_reach(v4_at(b + 2));                         // 2002::/16 6to4
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return Reach::kNever;  // 2001::/32 Teredo
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return Reach::kNever;  // 2001:db8::/32 docs
  if (b[0] == 0x01 && b[1] == 0x00 && std::memcmp(b + 2, kZero10.data(), 6) == 0) return Reach::kNever;  // 100::/64
  if ((b[0] & 0xfe) == 0xfc) return Reach::kPrivate;                // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return Reach::kNever;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return Reach::kNever;  // fec0::/10 site-local
  if (b[0] == 0xff) return Reach::kNever;                           // ff00::/8 multicast
  return Reach::kPublic;
}

}  // namespace

OutboundPolicy parse_outbound(const core::Env& env, const core::Deployment& deployment) {
  OutboundPolicy p;
  p.allow_private = env.get_bool("REND_ALLOW_PRIVATE_OUTBOUND_URLS", false);
  if (p.allow_private && deployment.production)
    throw core::ConfigError(
        "REND_ALLOW_PRIVATE_OUTBOUND_URLS=true is refused when REND_ENV=production: customer URLs "
        "(webhooks, imports) could reach the control plane's own network");
  p.require_https = deployment.production;
  return p;
}

std::optional<std::string> check_outbound_url(const std::string& url, const OutboundPolicy& policy) {
  // libcurl's own URL parser, so the check reads the URL exactly as the request will.
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u) return "could not parse the URL";
  if (url.size() > 2048) return "the URL is longer than 2048 characters";
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "the URL is not a valid absolute URL";
  auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* out = nullptr;
    if (curl_url_get(u.get(), which, &out, 0) != CURLUE_OK || !out) return std::nullopt;
    std::string s(out);
    curl_free(out);
    return s;
  };
  auto scheme = part(CURLUPART_SCHEME);
  if (!scheme || (*scheme != "http" && *scheme != "https")) return "only http:// and https:// URLs are accepted";
  if (policy.require_https && *scheme != "https") return "only https:// URLs are accepted in production";
  if (part(CURLUPART_USER) || part(CURLUPART_PASSWORD)) return "credentials in the URL are not accepted";
  auto host = part(CURLUPART_HOST);
  if (!host || host->empty()) return "the URL has no host";
  return std::nullopt;
}

bool outbound_address_allowed(const sockaddr* addr, const OutboundPolicy& policy) {
  if (!addr) return false;
  Reach reach;
  if (addr->sa_family == AF_INET) reach = v4_reach(ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr));
  else if (addr->sa_family == AF_INET6)
    reach = v6_reach(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr);
  else return false;  // unix sockets and anything else
  return reach == Reach::kPublic || (reach == Reach::kPrivate && policy.allow_private);
}

bool outbound_address_allowed(const std::string& ip, const OutboundPolicy& policy) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return outbound_address_allowed(reinterpret_cast<sockaddr*>(&v4), policy);
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return outbound_address_allowed(reinterpret_cast<sockaddr*>(&v6), policy);
  }
  return false;
}

std::optional<std::string> check_outbound_target(const std::string& url, const OutboundPolicy& policy) {
  if (auto bad = check_outbound_url(url, policy)) return bad;
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0);
  char* raw = nullptr;
  curl_url_get(u.get(), CURLUPART_HOST, &raw, 0);
  std::string host = raw ? raw : "";
  curl_free(raw);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return "the URL's host does not resolve";
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  for (auto* ai = res; ai; ai = ai->ai_next)
    if (!outbound_address_allowed(ai->ai_addr, policy))
      return "the URL's host resolves to a loopback, private, link-local or reserved address";
  return std::nullopt;
}

std::string url_host_for_log(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "?";
  auto start = scheme + 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return authority.empty() ? "?" : authority;
}

}  // namespace rend::http
