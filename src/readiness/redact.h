#pragma once
// The artifact's redaction guard (issue 15): before an artifact is written, its
// serialized text is scanned for every secret the run knows (API key, edge internal
// token, cookies and tokens it was handed, the hosts it talked to) and for the
// shapes a leak takes (a URL, a bearer or authorization header, a cookie, a query
// token, a playback token, an IPv4/IPv6 address). A hit refuses the write.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rend::readiness {

// The kind of the first leak found ("known_secret", "url", "bearer", "authorization",
// "cookie", "query_token", "playback_token", "ipv4", "ipv6"), or nullopt when clean.
// The answer never contains the leaked text, so it can be printed and stored.
// Known secrets shorter than 6 characters are ignored (they would match anything).
std::optional<std::string> find_leak(std::string_view text, const std::vector<std::string>& known_secrets);

}  // namespace rend::readiness
