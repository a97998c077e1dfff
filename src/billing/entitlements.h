#pragma once
// Entitlement checks (issue 12): may this account use this feature now? In front of
// uploads (storage of the lowest tier), playback (delivery of the asset's tier) and
// the ladder cap (storage per tier).
//
// Answers are cached per (account, feature) for REND_BILLING_ENTITLEMENT_CACHE_SECS
// so a player bootstrap does not wait on Autumn and Autumn's rate limits hold under
// load. When Autumn cannot answer (unreachable, timeout, 429, 5xx, a malformed
// answer), the failure policy decides: allow (and count it) or unavailable (the API
// answers 503 + Retry-After). That "cannot answer" is remembered for the key until
// its Retry-After has passed (at most the cache time), so an outage costs one call
// per (account, feature) per Retry-After rather than one per request.
// Thread-safe: the cache is under a mutex that is never held across a network call.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "billing/autumn_client.h"
#include "billing/settings.h"
#include "core/clock.h"

namespace rend::billing {

struct Entitlement {
  enum class Outcome { allowed, denied, unavailable };
  Outcome outcome = Outcome::allowed;
  // unavailable: the Retry-After for the API's 503.
  int64_t retry_after_secs = 0;
  // allowed because Autumn could not answer and the policy is allow.
  bool by_failure_policy = false;
  bool cached = false;  // answered from the cache, no call made
};

class Entitlements {
 public:
  // `client` may be null in local mode (and is then never needed). `clock` outlives this.
  Entitlements(const Settings& settings, std::shared_ptr<const AutumnClient> client, const core::Clock& clock);

  // `account_id` is Autumn's customer_id.
  Entitlement check(const std::string& account_id, const std::string& feature_id);

  // Prometheus text: rend_billing_entitlement_failures_total{policy}.
  void append_metrics(std::string& out) const;
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

  // Most cached keys; past it, expired entries are dropped and, if that is not
  // enough, the whole cache (a burst of new accounts only costs calls).
  static constexpr size_t kMaxCachedKeys = 100000;

 private:
  struct Cached {
    Entitlement::Outcome outcome;  // allowed, denied, or unavailable (Autumn could not answer)
    int64_t expires_ms;
    int64_t retry_after_secs;
  };
  Entitlement decide_failure(int64_t retry_after_secs);

  Mode mode_;
  FailurePolicy policy_;
  int64_t cache_ms_;
  std::shared_ptr<const AutumnClient> client_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Cached> cache_;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace rend::billing
