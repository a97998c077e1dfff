#pragma once
// The playback edge's HTTP surface (SPEC §6): /v/{asset}/{artifact} with local
// credential checks and the disk cache; /internal/warm, /internal/purge and
// /metrics (optionally on a private listener); /healthz, /readyz.
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "edge/cache.h"
#include "edge/metrics.h"
#include "edge/settings.h"
#include "edge/thumbnail.h"
#include "edge/token_memo.h"
#include "http/router.h"
#include "http/server.h"
#include "store/analytics.h"
#include "store/objects.h"

namespace rend::edge {

struct EdgeDeps {
  const Settings& cfg;
  store::ObjectStore& origin;
  DiskCache& cache;
  const core::Clock& clock;
  EdgeMetrics& metrics;
  // Appends more samples to /metrics (telemetry counters); may be empty.
  std::function<void(std::string&)> render_extra_metrics;
  // /v/{id}/thumbnail.jpg. Made by the first make_router() call when unset, and shared
  // by every router of these deps (the public and the internal listener: one
  // semaphore, one set of counters in /metrics); hence mutable.
  mutable std::shared_ptr<Thumbnailer> thumbnails = nullptr;
  // The playback signing keys this edge accepts; their process-unique id keys the
  // per-thread memo of verified tokens (edge/token_memo.h).
  const AcceptedKeys keys{cfg.common};
};

// Which routes a listener serves. With REND_EDGE_INTERNAL_BIND_ADDR the public
// listener gets public_only (/internal/* and /metrics answer 404 there).
enum class Surface { all, public_only, internal_only };
std::shared_ptr<http::Router> make_router(const EdgeDeps& deps, Surface surface = Surface::all);
// Identity headers (x-rend-edge-id, x-rend-region) and CORS on every response.
std::function<void(const http::Request&, http::Response&)> make_decorator(const Settings& cfg);

// After each response: metrics for viewer responses, and the playback event handed
// to `sink` (when set). Runs on the I/O thread: only counts and enqueues.
// The event is the hook's per-thread one, valid during the call: the sink copies it.
using EventSink = std::function<void(const store::PlaybackEvent&)>;
std::function<void(const http::ServerOptions::Completion&)> make_completion_hook(const EdgeDeps& deps, EventSink sink);

}  // namespace rend::edge
