#pragma once
// Content-MD5 for DeleteObjects, which S3 requires on that request. core/crypto
// has no MD5 (nothing else should use it), so it lives here, on OpenSSL's EVP.
#include <string>
#include <string_view>

namespace rend::store::s3 {

// Base64 (standard alphabet, padded) of the 16-byte MD5 digest, as Content-MD5 wants.
std::string md5_base64(std::string_view data);

}  // namespace rend::store::s3
