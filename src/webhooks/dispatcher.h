#pragma once
// The webhook dispatcher: one thread per API process (and in `rend dev`) that
// claims due deliveries from the metadata store's outbox (store/metadata.h), signs
// and POSTs each with a timeout to the webhook's URL under the outbound policy
// (every address connected to, after DNS and on each redirect, is checked), and
// records the attempt: delivered on 2xx; otherwise pending with the next attempt
// per backoff.h, or failed once past the give-up time.
//
// A claim is a lease (timeout + margin) taken atomically in the store, so with
// several API processes on one database no delivery is in flight twice at once;
// the lease of a process that died expires and another process sends it
// (at least once). The asset in the body is rendered when it is sent, so a late
// delivery (after retries or a crash) carries the asset as it is then.
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "core/clock.h"
#include "http/client.h"
#include "http/outbound.h"
#include "store/metadata.h"
#include "webhooks/settings.h"

namespace rend::webhooks {

class Dispatcher {
 public:
  // The API's GET /v1/assets/{id} renderer (the roles pass api's; the dispatcher
  // sits below the API and cannot include it).
  using Renderer = std::function<boost::json::value(const store::Asset&)>;
  using Sender = std::function<http::ClientResponse(const http::ClientRequest&)>;
  using Jitter = std::function<double()>;  // uniform in [0, 1]

  Dispatcher(const Settings& settings, store::MetadataStore& meta, const http::OutboundPolicy& outbound,
             const core::Clock& clock, Renderer render, Sender send = {}, Jitter jitter = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Claims one due delivery and makes one attempt. False when none was due.
  // Throws StoreError when the store fails.
  bool run_once();

  // This process's attempts since start, by outcome (the API's /metrics).
  struct Stats {
    uint64_t delivered = 0;
    uint64_t retried = 0;  // failed attempts that will be tried again
    uint64_t failed = 0;   // failed attempts that gave the delivery up
    uint64_t refused = 0;  // of the failures: an address the outbound policy refused
  };
  Stats stats() const;

  // The background thread: run_once until nothing is due, then waits poll_ms.
  void start();
  // Wakes and joins the thread; an attempt in progress finishes first (bounded by the timeout).
  void stop();

 private:
  void loop();

  const Settings& settings_;
  store::MetadataStore& meta_;
  const http::OutboundPolicy& outbound_;
  const core::Clock& clock_;
  Renderer render_;
  Sender send_;
  Jitter jitter_;
  std::mt19937_64 rng_;
  const std::string claimer_;  // this process's claims: "whd_…"

  std::atomic<uint64_t> delivered_{0}, retried_{0}, failed_{0}, refused_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rend::webhooks
