#pragma once
// Registration and heartbeat with the control plane (SPEC §6): every
// REND_EDGE_HEARTBEAT_INTERVAL_SECS the edge POSTs its id, region, base URL,
// version and cache usage to {REND_CONTROL_PLANE_URL}/internal/edges/heartbeat.
// The first heartbeat is its registration. Failures are retried every second
// until one succeeds (the API may start after the edge), and never affect serving.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "edge/cache.h"
#include "edge/settings.h"

namespace rend::edge {

class Registrar {
 public:
  Registrar(const Settings& cfg, const DiskCache& cache);
  ~Registrar();
  void start();  // no-op without REND_CONTROL_PLANE_URL
  void stop();

 private:
  bool beat();
  const Settings& cfg_;
  const DiskCache& cache_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rend::edge
