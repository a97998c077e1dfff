#pragma once
// Thin wrappers over OpenSSL: the primitives tokens, API keys and ids are built from.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rend::core {

// Raw 32-byte SHA-256, and the same as lowercase hex.
std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view message);
// Cryptographically secure random bytes (RAND_bytes); throws if the RNG fails.
std::string random_bytes(size_t n);
// n random bytes as unpadded base64url (URL- and cookie-safe).
std::string random_token(size_t n);
std::string base64url_encode(std::string_view data);
// Standard base64 with padding (RFC 4648 section 4), e.g. for CSP source hashes.
std::string base64_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view data);
std::string hex_encode(std::string_view data);
// Compares without an early exit, so timing does not reveal the matching prefix.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace rend::core
