#pragma once
// Client side of the edge's control endpoints (/internal/warm, /internal/purge),
// used by the API (purge after a delete) and the worker (warm after a job).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/metadata.h"

namespace rend::control {

// Where to send a control call (`path`, e.g. "/internal/purge"): every registered
// edge whose last heartbeat is within `window_secs`, plus the configured
// single-edge fallback URLs, without duplicates. Stale edges are skipped.
std::vector<std::string> control_urls(store::MetadataStore& meta, const std::vector<std::string>& fallback_urls,
                                      const std::string& path, int64_t now_ms, uint64_t window_secs);

// One warm/purge POST: {"asset_id": ...} with the internal bearer token.
struct ControlCall {
  std::string action;  // "edge_warm", "edge_purge": the log event prefix
  std::string url;
  std::string token;
  std::string asset_id;
  std::chrono::milliseconds timeout{2000};
};

// Sends a call over HTTP; a failure is logged as `<action>_failed` (never with the token).
void post_control_call(const ControlCall& call);

// A fixed number of sender threads behind a bounded queue: a burst of purges or a
// large registry costs at most `threads` connections and `capacity` queued calls,
// never a thread per URL. A call that finds the queue full is dropped, counted and
// logged (`edge_control_dropped`): warm and purge are best effort (a purge that
// never arrives ages out with the edge's cache).
class ControlDispatcher {
 public:
  using Send = std::function<void(const ControlCall&)>;
  ControlDispatcher(size_t threads, size_t capacity, Send send = post_control_call);
  ~ControlDispatcher();  // stop()
  ControlDispatcher(const ControlDispatcher&) = delete;
  ControlDispatcher& operator=(const ControlDispatcher&) = delete;

  // Queues the call; false (dropped) when the queue is full or the dispatcher stopped.
  bool submit(ControlCall call);
  // Refuses new calls, drops the queued ones (counted), waits for the calls in
  // flight (each bounded by its timeout) and joins the threads. Idempotent.
  void stop();
  uint64_t dropped() const;
  uint64_t sent() const;

 private:
  void run();
  void drop(const ControlCall& call, const char* reason);  // caller holds mu_

  Send send_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ControlCall> queue_;
  bool stopping_ = false;
  uint64_t dropped_ = 0, sent_ = 0;
  std::vector<std::thread> threads_;
};

// Queues a call on the process's dispatcher (4 threads, 1024 queued calls),
// started on first use: best effort, never blocking the request or job that
// triggered it. No-op when url is empty.
void notify_edge_async(std::string action, std::string url, std::string token, std::string asset_id,
                       std::chrono::milliseconds timeout);
// Stops the process's dispatcher (ControlDispatcher::stop); called once by each
// role command at shutdown. A later notify_edge_async starts a new one.
void stop_control_dispatch();

}  // namespace rend::control
