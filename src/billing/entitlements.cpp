#include "billing/entitlements.h"

#include <algorithm>

namespace rend::billing {

Entitlements::Entitlements(const Settings& s, std::shared_ptr<const AutumnClient> client, const core::Clock& clock)
    : mode_(s.mode),
      policy_(s.failure_policy),
      cache_ms_(static_cast<int64_t>(s.entitlement_cache_secs) * 1000),
      client_(std::move(client)),
      clock_(clock) {}

Entitlement Entitlements::decide_failure(int64_t retry_after_secs) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  Entitlement e;
  if (policy_ == FailurePolicy::allow) {
    e.outcome = Entitlement::Outcome::allowed;
    e.by_failure_policy = true;
  } else {
    e.outcome = Entitlement::Outcome::unavailable;
    e.retry_after_secs = std::max<int64_t>(1, retry_after_secs);
  }
  return e;
}

Entitlement Entitlements::check(const std::string& account_id, const std::string& feature_id) {
  // Local mode sells nothing through Autumn: everything is allowed, nothing is sent.
  if (mode_ == Mode::local || !client_) return {};
  auto key = std::make_pair(account_id, feature_id);
  const int64_t now = clock_.now_unix_ms();
  if (cache_ms_ > 0) {
    std::unique_lock lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end() && it->second.expires_ms > now) {
      const Cached c = it->second;
      lock.unlock();
      if (c.outcome == Entitlement::Outcome::unavailable) {
        // Remembered outage: what is left of the Retry-After, rounded up.
        auto e = decide_failure((c.expires_ms - now + 999) / 1000);
        e.cached = true;
        return e;
      }
      Entitlement e;
      e.outcome = c.outcome;
      e.cached = true;
      return e;
    }
  }

  auto r = client_->check(account_id, feature_id);  // no lock held: it may take the timeout
  Entitlement e;
  Cached c{};
  if (r.outcome == CheckResult::Outcome::unavailable) {
    e = decide_failure(r.retry_after_secs);
    c.outcome = Entitlement::Outcome::unavailable;
    c.expires_ms = now + std::min<int64_t>(std::max<int64_t>(1, r.retry_after_secs) * 1000, cache_ms_);
  } else {
    e.outcome =
        r.outcome == CheckResult::Outcome::denied ? Entitlement::Outcome::denied : Entitlement::Outcome::allowed;
    c.outcome = e.outcome;
    c.expires_ms = now + cache_ms_;
  }
  if (cache_ms_ > 0) {
    std::lock_guard lock(mu_);
    if (cache_.size() >= kMaxCachedKeys && !cache_.contains(key)) {
      std::erase_if(cache_, [now](const auto& kv) { return kv.second.expires_ms <= now; });
      if (cache_.size() >= kMaxCachedKeys) cache_.clear();
    }
    cache_[key] = c;
  }
  return e;
}

void Entitlements::append_metrics(std::string& out) const {
  out +=
      "# HELP rend_billing_entitlement_failures_total Entitlement checks Autumn could not answer, decided by the "
      "failure policy.\n";
  out += "# TYPE rend_billing_entitlement_failures_total counter\n";
  out += "rend_billing_entitlement_failures_total{policy=\"";
  out += policy_name(policy_);
  out += "\"} " + std::to_string(failures()) + "\n";
}

}  // namespace rend::billing
