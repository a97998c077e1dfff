#include "edge/registrar.h"

#include <boost/json.hpp>

#include "core/log.h"
#include "http/client.h"

namespace rend::edge {

namespace {
constexpr const char* kVersion = "0.1.0";
}

Registrar::Registrar(const Settings& cfg, const DiskCache& cache) : cfg_(cfg), cache_(cache) {}
Registrar::~Registrar() { stop(); }

bool Registrar::beat() {
  auto usage = cache_.stats();
  http::ClientRequest r;
  r.method = "POST";
  r.url = cfg_.control_plane_url + "/internal/edges/heartbeat";
  r.headers = {{"Authorization", "Bearer " + cfg_.common.edge_internal_token}, {"Content-Type", "application/json"}};
  r.body = boost::json::serialize(boost::json::object{{"edge_id", cfg_.edge_id},
                                                      {"region", cfg_.region},
                                                      {"base_url", cfg_.base_url},
                                                      {"version", kVersion},
                                                      {"cache_bytes", usage.bytes},
                                                      {"cache_objects", usage.objects}});
  r.timeout = std::chrono::seconds(5);
  auto res = http::send(r);
  if (!res.ok())
    core::log::warn("edge_heartbeat_failed",
                    {{"edge_id", cfg_.edge_id}, {"status", static_cast<int64_t>(res.status)}, {"error", res.error}});
  return res.ok();
}

void Registrar::start() {
  if (cfg_.control_plane_url.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    bool registered = false;
    std::unique_lock lk(mu_);
    while (!stop_) {
      lk.unlock();
      bool ok = beat();
      if (ok && !registered) core::log::info("edge_registered", {{"edge_id", cfg_.edge_id}, {"region", cfg_.region}});
      registered = registered || ok;
      lk.lock();
      auto wait = ok ? std::chrono::seconds(cfg_.heartbeat_interval_secs) : std::chrono::seconds(1);
      cv_.wait_for(lk, wait, [this] { return stop_; });
    }
  });
}

void Registrar::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace rend::edge
