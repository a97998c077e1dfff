#pragma once
// Who may move an upload (internal to src/api): an API key with the `upload` scope
// (the upload must be its account's), or a direct-upload token (?token=, issue 13)
// naming that upload, used from the token's origin while the upload is pending.
#include <optional>
#include <string>
#include <variant>

#include "api/common.h"
#include "uploads/direct.h"

namespace rend::api {

struct UploadAccess {
  std::string account_id;
  std::string key_id;                         // empty for a direct upload
  std::optional<uploads::DirectGrant> grant;  // set for a direct upload
  std::string token;                          // the direct token as presented
};

// Resolves the caller; `upload_id` is the route's upload, empty for a creation. With
// a token: 401 when it is invalid or expired, 403 when it names another upload or the
// request comes from another origin, 404/410 when its upload is gone. With a key:
// authenticate()'s answers (401/403/429).
std::variant<UploadAccess, http::Response> upload_access(const ApiDeps& d, const http::Request& req,
                                                         const std::string& upload_id);

// Route options whose pre-body check accepts a plausible direct token (its signature
// and expiry) or a valid key with `upload` before any body byte is read.
http::RouteOptions upload_checked(const ApiDeps& d, http::RouteOptions o = {});

// For a direct upload's requests, the CORS answer for the token's origin (which need
// not be in REND_API_CORS_ALLOWED_ORIGINS: the token names it).
void direct_cors(const http::Request& req, http::Response& res, const uploads::DirectGrant& grant);

// Headers a browser may read from an upload response (tus needs them).
inline constexpr std::string_view kUploadExposedHeaders =
    "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Tus-Resumable, Tus-Version, "
    "Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Rend-Asset-Id, x-rend-cache, x-rend-edge-id, x-rend-region, "
    "Content-Length, Content-Range";
inline constexpr std::string_view kUploadAllowedHeaders =
    "Authorization, Content-Type, X-Request-Id, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, "
    "Upload-Defer-Length, Upload-Concat, Tus-Resumable, X-HTTP-Method-Override";

}  // namespace rend::api
