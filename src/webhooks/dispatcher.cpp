#include "webhooks/dispatcher.h"

#include "core/ids.h"
#include "core/log.h"
#include "webhooks/backoff.h"
#include "webhooks/event.h"
#include "webhooks/signature.h"

namespace rend::webhooks {

namespace {

// Why an attempt failed, as GET /v1/webhooks/{id}/deliveries shows it. Never the
// URL or libcurl's message (which may quote it, query string and all).
std::string failure_reason(const http::ClientResponse& r) {
  if (r.address_refused) return "outbound_refused";
  if (r.status == 0) return r.error.find("timed out") != std::string::npos ? "timeout" : "connection_failed";
  return "http_" + std::to_string(r.status);
}

}  // namespace

Dispatcher::Dispatcher(const Settings& settings, store::MetadataStore& meta, const http::OutboundPolicy& outbound,
                       const core::Clock& clock, Renderer render, Sender send, Jitter jitter)
    : settings_(settings),
      meta_(meta),
      outbound_(outbound),
      clock_(clock),
      render_(std::move(render)),
      send_(send ? std::move(send) : Sender(http::send)),
      jitter_(std::move(jitter)),
      rng_(std::random_device{}()),
      claimer_(core::new_id("whd")) {
  if (!jitter_) jitter_ = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
}

Dispatcher::~Dispatcher() { stop(); }

bool Dispatcher::run_once() {
  const int64_t now = clock_.now_unix_ms();
  auto d = meta_.claim_webhook_delivery(claimer_, now, settings_.timeout_ms + settings_.lease_margin_ms);
  if (!d) return false;
  auto hook = meta_.get_webhook(d->webhook_id);
  if (!hook) return true;  // deleted since the claim, its deliveries with it

  auto asset = meta_.get_asset(d->asset_id);
  const std::string body = event_body(*d, asset ? render_(*asset) : boost::json::value(nullptr));
  std::vector<std::string> secrets{hook->secret};
  if (hook->previous_secret && hook->previous_secret_until_ms > now) secrets.push_back(*hook->previous_secret);

  http::ClientRequest req;
  req.method = "POST";
  req.url = hook->url;
  req.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", "Rend-Webhooks/1"},
                 {"Rend-Event-Id", d->event_id},
                 {"Rend-Signature", signature_header(clock_.now_unix(), body, secrets)}};
  req.body = body;
  req.timeout = std::chrono::milliseconds(settings_.timeout_ms);
  req.outbound = &outbound_;
  // Each redirect's address is checked like the first (http/outbound.h).
  req.max_redirects = 3;
  // The receiver's answer body is not used: drop it as it arrives (neither buffered
  // nor a reason to fail an attempt that got a 2xx).
  req.on_body = [](const char*, size_t) { return true; };

  const auto started = clock_.steady_now();
  const auto resp = send_(req);
  const int64_t latency = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now() - started).count();

  store::WebhookAttempt a;
  a.attempted_at_ms = clock_.now_unix_ms();
  a.latency_ms = latency;
  if (resp.status != 0) a.status_code = resp.status;
  if (resp.ok()) {
    a.status = "delivered";
    a.next_attempt_at_ms = a.attempted_at_ms;
  } else {
    a.error = failure_reason(resp);
    auto next = next_attempt_at_ms(settings_, d->attempts + 1, a.attempted_at_ms, d->event_created_at_ms, jitter_());
    a.status = next ? "pending" : "failed";
    a.next_attempt_at_ms = next.value_or(a.attempted_at_ms);
  }
  const bool held = meta_.finish_webhook_delivery(d->id, claimer_, a);
  (a.status == "delivered" ? delivered_ : a.status == "pending" ? retried_ : failed_)++;
  if (resp.address_refused) refused_++;
  core::log::info("webhook_delivery_attempt", {{"delivery_id", d->id},
                                               {"webhook_id", d->webhook_id},
                                               {"event_id", d->event_id},
                                               {"event_type", d->event_type},
                                               {"outcome", a.status},
                                               {"status_code", int64_t(resp.status)},
                                               {"latency_ms", latency},
                                               {"attempt", d->attempts + 1},
                                               {"error", a.error.value_or("")},
                                               {"claim_held", held}});
  return true;
}

Dispatcher::Stats Dispatcher::stats() const {
  return {delivered_.load(), retried_.load(), failed_.load(), refused_.load()};
}

void Dispatcher::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Dispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::loop() {
  for (;;) {
    bool worked = false;
    try {
      worked = run_once();
    } catch (const std::exception& e) {
      // The store is down: keep going, the claims and the outbox are where they were.
      core::log::warn("webhook_dispatch_failed", {{"error", std::string_view(e.what())}});
    }
    std::unique_lock lock(mu_);
    if (stopping_) return;
    if (!worked) clock_.wait_for(lock, cv_, std::chrono::milliseconds(settings_.poll_ms), [this] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace rend::webhooks
