#pragma once
// Requests to URLs a customer gave us (webhook receivers, imports from a URL).
// Such a URL must not reach the control plane's own network: the metadata
// service, the database, the object store, another Rend role. The check cannot be
// done on the URL's text (DNS can answer anything, and change its answer between a
// check and the connect), so it is made on every address libcurl is about to
// connect to: after resolution, on every redirect, on every reconnect.
#include <optional>
#include <string>

#include "core/config.h"
#include "core/env.h"

struct sockaddr;

namespace rend::http {

struct OutboundPolicy {
  // REND_ALLOW_PRIVATE_OUTBOUND_URLS=true: loopback and private addresses are
  // allowed (tests with receivers on 127.0.0.1); link-local and the metadata
  // address never are. Refused when REND_ENV=production.
  bool allow_private = false;
  // Production: only https:// (a webhook's signature is no secret over plain HTTP).
  bool require_https = false;
};

// Throws core::ConfigError naming the variable.
OutboundPolicy parse_outbound(const core::Env& env, const core::Deployment& deployment);

// The URL's shape: http(s) only (https only under require_https), a host, no
// user:password@, no fragment tricks. nullopt when acceptable, else why not (a
// sentence without the URL, which may carry a secret).
std::optional<std::string> check_outbound_url(const std::string& url, const OutboundPolicy& policy);

// Whether one resolved address may be connected to: refuses loopback, private
// (RFC 1918, unique local), link-local (which includes the 169.254.169.254
// metadata address), carrier-grade NAT, multicast, unspecified, broadcast and
// reserved ranges, IPv4-mapped/compatible/NAT64/6to4 forms of any of them.
// allow_private lets loopback, RFC 1918, carrier-grade NAT and unique-local through;
// link-local (the metadata service), multicast and reserved stay refused even then.
// A null or non-IP address is refused.
bool outbound_address_allowed(const sockaddr* addr, const OutboundPolicy& policy);

// The same on an address literal ("10.0.0.1", "::1"); false when not an address.
bool outbound_address_allowed(const std::string& ip, const OutboundPolicy& policy);

// Registration-time check (a webhook URL): the shape, then every address the host
// resolves to now. The connect-time check still runs on every later request.
std::optional<std::string> check_outbound_target(const std::string& url, const OutboundPolicy& policy);

// The host (and port) of a URL, for logs: never its user info, path or query, which
// may carry a signature (an S3 presigned URL). "?" when it has none.
std::string url_host_for_log(const std::string& url);

}  // namespace rend::http
