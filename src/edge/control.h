#pragma once
// Client side of the edge's control endpoints (/internal/warm, /internal/purge),
// used by the API (purge after a delete) and the worker (warm after a job).
#include <chrono>
#include <string>
#include <vector>

#include "store/metadata.h"

namespace rend::edge {

// Where to send a control call (`path`, e.g. "/internal/purge"): every registered
// edge whose last heartbeat is within `window_secs`, plus the configured
// single-edge fallback URLs, without duplicates. Stale edges are skipped.
std::vector<std::string> control_urls(store::MetadataStore& meta, const std::vector<std::string>& fallback_urls,
                                      const std::string& path, int64_t now_ms, uint64_t window_secs);

// POSTs {"asset_id": ...} with the internal bearer token on a detached thread:
// best effort, never blocking the request or job that triggered it. A failure is
// logged as `<action>_failed` (never with the token). No-op when url is empty.
void notify_edge_async(std::string action, std::string url, std::string token, std::string asset_id,
                       std::chrono::milliseconds timeout);

}  // namespace rend::edge
