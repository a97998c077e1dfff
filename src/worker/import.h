#pragma once
// Imports from a URL (POST /v1/assets {input_url}): the worker's first stage for an
// asset that has an input_url and no stored source yet. It streams the URL's body
// into the object store as sources/{asset_id}, so the rest of the job runs exactly
// as for an upload.
//
// The URL is a customer's: the request goes through the outbound policy
// (http/outbound.h), which checks every address libcurl connects to, after DNS and
// on every redirect. The URL may carry a signed query (an S3 presigned URL), so it
// is never logged whole (http::url_host_for_log) and never put into a Status message.
//
// Outcomes (core::Status, the job's error taxonomy):
//   ok                 the body is committed under `key` (bytes in ImportResult)
//   input_forbidden    the URL's shape, a redirect's scheme, or an address it
//                      resolves to is refused by the policy (permanent)
//   input_too_large    the body is over max_bytes (permanent)
//   input_unreachable  DNS, connect, TLS, a non-2xx answer, too many redirects, the
//                      timeout (permanent)
//   cancelled          keep_going() said stop (the worker decides what that means)
//   storage_failed     the object store failed (retryable)
// On every failure nothing is left under `key`: the writer is never committed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "http/outbound.h"
#include "store/objects.h"

namespace rend::worker {

struct ImportOptions {
  http::OutboundPolicy policy;
  uint64_t max_bytes = 0;                      // REND_MAX_UPLOAD_BYTES
  std::chrono::milliseconds timeout{600'000};  // the whole transfer, REND_IMPORT_TIMEOUT_SECS
  long max_redirects = 5;
};

struct ImportResult {
  core::Status status;
  uint64_t bytes = 0;
};

// Blocks for at most about options.timeout. keep_going is asked at least once a
// second, even while the server stalls; returning false aborts the transfer (result
// `cancelled`) within about a second.
ImportResult fetch_source(const std::string& url, const std::string& key, store::ObjectStore& objects,
                          const ImportOptions& options, const std::function<bool()>& keep_going = {});

}  // namespace rend::worker
