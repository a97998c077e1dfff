#pragma once
// The playback edge's HTTP surface (SPEC §6): /v/{asset}/{artifact} with local
// credential checks and the disk cache, /internal/warm and /internal/purge, /readyz.
#include <memory>

#include "core/clock.h"
#include "core/config.h"
#include "edge/cache.h"
#include "http/router.h"
#include "store/objects.h"

namespace rend::edge {

struct EdgeDeps {
  const core::EdgeConfig& cfg;
  store::ObjectStore& origin;
  DiskCache& cache;
  const core::Clock& clock;
};

std::shared_ptr<http::Router> make_router(const EdgeDeps& deps);
// Identity headers (x-rend-edge-id, x-rend-region) and CORS on every response.
std::function<void(const http::Request&, http::Response&)> make_decorator(const core::EdgeConfig& cfg);

}  // namespace rend::edge
