#include "control/edge_control.h"

#include <algorithm>
#include <memory>

#include "core/log.h"
#include "http/client.h"

namespace rend::control {

std::vector<std::string> control_urls(store::MetadataStore& meta, const std::vector<std::string>& fallback_urls,
                                      const std::string& path, int64_t now_ms, uint64_t window_secs) {
  std::vector<std::string> out;
  auto add = [&](std::string url) {
    if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(std::move(url));
  };
  try {
    for (const auto& e : meta.list_edges())
      if (now_ms - e.last_heartbeat_at_ms <= int64_t(window_secs) * 1000) add(e.base_url + path);
  } catch (const std::exception& ex) {
    // The registry is unreachable: the fallbacks still get the call.
    core::log::warn("edge_registry_unavailable", {{"error", ex.what()}});
  }
  for (const auto& u : fallback_urls) add(u);
  return out;
}

void post_control_call(const ControlCall& call) {
  http::ClientRequest r;
  r.method = "POST";
  r.url = call.url;
  r.headers = {{"Authorization", "Bearer " + call.token}, {"Content-Type", "application/json"}};
  r.body = "{\"asset_id\":\"" + call.asset_id + "\"}";
  r.timeout = call.timeout;
  auto res = http::send(r);
  if (!res.ok())
    core::log::warn(call.action + "_failed",
                    {{"asset_id", call.asset_id}, {"status", static_cast<int64_t>(res.status)}, {"error", res.error}});
}

ControlDispatcher::ControlDispatcher(size_t threads, size_t capacity, Send send)
    : send_(std::move(send)), capacity_(std::max<size_t>(1, capacity)) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) threads_.emplace_back([this] { run(); });
}

ControlDispatcher::~ControlDispatcher() { stop(); }

void ControlDispatcher::drop(const ControlCall& call, const char* reason) {
  ++dropped_;
  core::log::warn("edge_control_dropped", {{"action", call.action},
                                           {"asset_id", call.asset_id},
                                           {"url", call.url},
                                           {"reason", reason},
                                           {"dropped_total", static_cast<int64_t>(dropped_)}});
}

bool ControlDispatcher::submit(ControlCall call) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      drop(call, "stopping");
      return false;
    }
    if (queue_.size() >= capacity_) {
      drop(call, "queue_full");
      return false;
    }
    queue_.push_back(std::move(call));
  }
  cv_.notify_one();
  return true;
}

void ControlDispatcher::run() {
  for (;;) {
    ControlCall call;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // stop() has dropped what was queued
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      send_(call);
    } catch (const std::exception& e) {
      core::log::warn(call.action + "_failed", {{"asset_id", call.asset_id}, {"error", e.what()}});
    }
    std::lock_guard lock(mu_);
    ++sent_;
  }
}

void ControlDispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (const auto& call : queue_) drop(call, "stopping");
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

uint64_t ControlDispatcher::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

uint64_t ControlDispatcher::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

namespace {
constexpr size_t kDispatchThreads = 4;
constexpr size_t kDispatchQueue = 1024;
std::mutex g_mu;
std::unique_ptr<ControlDispatcher> g_dispatcher;
}  // namespace

void notify_edge_async(std::string action, std::string url, std::string token, std::string asset_id,
                       std::chrono::milliseconds timeout) {
  if (url.empty()) return;
  std::lock_guard lock(g_mu);
  if (!g_dispatcher) g_dispatcher = std::make_unique<ControlDispatcher>(kDispatchThreads, kDispatchQueue);
  g_dispatcher->submit({std::move(action), std::move(url), std::move(token), std::move(asset_id), timeout});
}

void stop_control_dispatch() {
  std::unique_ptr<ControlDispatcher> d;
  {
    std::lock_guard lock(g_mu);
    d = std::move(g_dispatcher);
  }
  if (d) d->stop();
}

}  // namespace rend::control
