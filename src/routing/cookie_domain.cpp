#include "routing/routing.h"

namespace rend::routing {
namespace {

// Lower-cased DNS name without port or trailing dot; nullopt for IP literals,
// single-label names and anything that is not [a-z0-9-] labels.
std::optional<std::string> dns_name(std::string_view host) {
  while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
  while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
  if (host.empty() || host.front() == '[') return std::nullopt;  // IPv6 literal
  auto colon = host.find(':');
  if (colon != std::string_view::npos) {
    auto port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5) return std::nullopt;  // also rejects bare IPv6 (more colons)
    for (char c : port)
      if (c < '0' || c > '9') return std::nullopt;
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return std::nullopt;
  std::string out;
  bool all_numeric = true;  // every label numeric: an IPv4 address (or a form of one)
  size_t label = 0, labels = 1;
  for (char c : host) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0, ++labels;
    } else if ((c >= 'a' && c <= 'z') || c == '-') {
      all_numeric = false, ++label;
    } else if (c >= '0' && c <= '9') {
      ++label;
    } else {
      return std::nullopt;
    }
    if (label > 63) return std::nullopt;
    out += c;
  }
  if (label == 0 || labels < 2 || all_numeric) return std::nullopt;
  // The last label (TLD) is never all-numeric: "10.0.0.1x" style hosts are not names.
  auto tld = out.substr(out.rfind('.') + 1);
  if (tld.find_first_not_of("0123456789") == std::string::npos) return std::nullopt;
  return out;
}

bool inside(const std::string& host, const std::string& domain) {
  if (host == domain) return true;
  return host.size() > domain.size() && host.ends_with(domain) && host[host.size() - domain.size() - 1] == '.';
}

}  // namespace

std::optional<std::string> cookie_domain_for(std::string_view configured_domain, std::string_view site_host,
                                             std::string_view media_host) {
  while (!configured_domain.empty() && configured_domain.front() == ' ') configured_domain.remove_prefix(1);
  if (!configured_domain.empty() && configured_domain.front() == '.') configured_domain.remove_prefix(1);
  if (configured_domain.find(':') != std::string_view::npos) return std::nullopt;  // a domain has no port
  auto domain = dns_name(configured_domain);
  auto site = dns_name(site_host);
  auto media = dns_name(media_host);
  if (!domain || !site || !media) return std::nullopt;
  if (!inside(*site, *domain) || !inside(*media, *domain)) return std::nullopt;
  return domain;
}

}  // namespace rend::routing
