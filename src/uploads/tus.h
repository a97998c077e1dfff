#pragma once
// tus 1.0 (https://tus.io/protocols/resumable-upload) as pure functions: the values
// Rend advertises and the parsers of the request headers it reads. No I/O; every
// parser returns nullopt for anything the spec does not allow, so the handler answers
// 400 and changes nothing.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rend::uploads {

inline constexpr std::string_view kTusVersion = "1.0.0";
inline constexpr std::string_view kTusExtensions = "creation,creation-with-upload,termination,expiration,checksum";
inline constexpr std::string_view kChecksumAlgorithms = "sha1";
inline constexpr std::string_view kOffsetContentType = "application/offset+octet-stream";

// Upload-Length / Upload-Offset: 1*DIGIT (no sign, no spaces), fitting in int64.
std::optional<int64_t> parse_size(std::string_view value);

// Upload-Metadata: comma-separated pairs "key SP base64(value)" (the value part may be
// missing: an empty value). Keys are non-empty, unique, without spaces or commas;
// values are standard base64 with padding. Returns the decoded map.
std::optional<std::map<std::string, std::string>> parse_metadata(std::string_view value);

// Upload-Checksum: "algorithm SP base64(digest)".
struct Checksum {
  std::string algorithm;  // lower case as sent, e.g. "sha1"
  std::string digest;     // raw bytes
};
std::optional<Checksum> parse_checksum(std::string_view value);

// Standard base64 (RFC 4648 §4) with padding, strictly: nullopt on any other character,
// missing or misplaced padding.
std::optional<std::string> base64_decode(std::string_view value);

// Upload-Expires: an RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date(int64_t unix_ms);

// SHA-1 over a stream (the checksum extension's algorithm).
class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void update(const char* data, size_t n);
  std::string digest();  // raw 20 bytes; once

 private:
  void* ctx_;
};

}  // namespace rend::uploads
