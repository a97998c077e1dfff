#pragma once
// RFC 3986 percent-encoding (section 2.1), the one implementation every URL builder
// and parser in Rend uses: playlist URIs carrying a token (hls), S3 request URLs in
// the exact form SigV4 signs (store/s3), query parameters (http), credentials in a
// Redis URL (store/redis).
#include <optional>
#include <string>
#include <string_view>

namespace rend::core {

// What stays as is. Every other byte becomes %XX with upper-case hex (RFC 3986 2.1
// recommends it; SigV4's canonical form requires it).
enum class PercentKeep {
  unreserved,            // A-Z a-z 0-9 - . _ ~ (RFC 3986 2.3): a query name or value
  unreserved_and_slash,  // the same plus '/': a path whose segments are encoded (an S3 key, SigV4)
};
std::string percent_encode(std::string_view s, PercentKeep keep = PercentKeep::unreserved);

// Lenient decoding for what a client sent: a '%' not followed by two hex digits stays
// as is; with plus_as_space, '+' becomes ' ' (application/x-www-form-urlencoded query
// strings).
std::string percent_decode(std::string_view s, bool plus_as_space = false);

// Strict decoding for configuration: nullopt when a '%' is not followed by two hex
// digits, so a mistyped URL is refused instead of read as something else.
std::optional<std::string> percent_decode_strict(std::string_view s);

}  // namespace rend::core
