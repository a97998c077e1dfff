#pragma once
// Client side of the edge's control endpoints (/internal/warm, /internal/purge),
// used by the API (purge after a delete) and the worker (warm after a job).
#include <chrono>
#include <string>

namespace rend::edge {

// POSTs {"asset_id": ...} with the internal bearer token on a detached thread:
// best effort, never blocking the request or job that triggered it. A failure is
// logged as `<action>_failed` (never with the token). No-op when url is empty.
void notify_edge_async(std::string action, std::string url, std::string token, std::string asset_id,
                       std::chrono::milliseconds timeout);

}  // namespace rend::edge
