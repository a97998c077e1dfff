#pragma once
// The usage sync (issue 12, docs/billing-autumn-v1.md "Usage sync"): sends delivered
// minutes per (account, tier) to Autumn window by window, exactly once, and stored
// minutes as absolute usage on their own schedule; in local mode it computes and
// commits the same windows without any network call.
//
// Delivery windows lie on a grid of REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS (W):
// the first starts at the earliest delivery and ends at the next multiple of W, every
// later one is [kW, (k+1)W), and a window is due once its end is at least
// REND_BILLING_DELIVERY_SYNC_LAG_SECS old. A window is therefore a function of the
// committed cursor alone, so a process that restarts after a crash recomputes the
// very same windows and idempotency keys (Autumn answers 409 for those it recorded).
//
// Per window: one POST /v1/track per (account, feature) with value = minutes
// (fractional, never rounded) and the key rend-dlv-<account>-<feature>-<start>-<end>;
// 429/5xx/transport → wait Retry-After and resend the same request; the cursor moves
// (with the window's ledger lines, in one transaction checked against the lease) only
// after every track of the window was recorded. A 4xx other than 409 stops the pass
// with the error recorded for `rend billing status`; the window is retried next pass.
//
// One Sync per process; run_once() is not reentrant. Only the holder of the lease in
// the BillingStateStore sends: the lease is renewed before every send, and a process
// that finds it lost stops at once (and could not commit anyway).
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "billing/autumn_client.h"
#include "billing/settings.h"
#include "billing/usage_source.h"
#include "core/clock.h"
#include "store/billing_state.h"

namespace rend::billing {

inline constexpr std::string_view kDeliveryStream = "delivery";
inline constexpr std::string_view kStorageStream = "storage";

// The idempotency key of (account, feature, window): readable when short enough,
// else "rend-dlv-" and a SHA-256 of the same text (Autumn keys are bounded).
std::string delivery_key(const std::string& account_id, const std::string& feature_id, int64_t start_ms,
                         int64_t end_ms);

struct SyncOptions {
  std::string holder;  // this process's lease holder id: unique per process
  std::string lease_name = "billing-sync";
  int64_t lease_ttl_ms = 60'000;
  // Waits between retries: returns false when the sync is stopping. Tests pass one
  // that advances a manual clock instead of sleeping.
  std::function<bool(int64_t ms)> sleep;
  // Test hook: runs after a window's tracks, before its commit (a crash there).
  std::function<void(int64_t start_ms, int64_t end_ms)> before_commit;
};

struct PassResult {
  bool lease_held = false;  // false: another process syncs (or the lease was lost)
  bool lease_lost = false;  // held at first, lost during the pass: stopped sending
  int windows_committed = 0;
  int calls_sent = 0;  // tracks and set_usage calls that got an answer
  int retries = 0;
  std::optional<std::string> error;  // a non-retryable answer stopped the pass
};

class Sync {
 public:
  // `client` is null in local mode (settings.mode == local): nothing is sent.
  Sync(const Settings& settings, store::BillingStateStore& state, UsageSource& usage, const AutumnClient* client,
       const core::Clock& clock, SyncOptions options);

  // Acquires (or renews) the lease, then sends every due delivery window, one after
  // another without waiting, and the storage snapshot if due.
  PassResult run_once();
  // Gives the lease up (shutdown), so another process can take over at once.
  void release();
  // The background loop for a role's thread: a pass, then options.sleep(interval_ms),
  // until that sleep returns false; then release(). An exception from a pass (the
  // database away) is logged and the next pass tries again: the sync never dies.
  void run(int64_t interval_ms);

  // For /metrics: totals since start, and how far the delivery cursor lags now - lag.
  struct Stats {
    std::atomic<int64_t> windows_committed{0};
    std::atomic<int64_t> calls_sent{0};
    std::atomic<int64_t> retries{0};
    std::atomic<int64_t> delivery_lag_ms{0};
  };
  const Stats& stats() const { return stats_; }

 private:
  enum class Sent { ok, lease_lost, failed, stopped };

  bool ensure_lease();
  // Sends one call (a track, or set_usage when `absolute`) until Autumn records it.
  Sent send(const std::string& stream, const TrackEvent& e, bool absolute, PassResult& r);
  bool commit(const std::string& stream, std::optional<int64_t> old_end, int64_t new_end,
              const std::vector<store::WindowRecord>& records, PassResult& r);
  void sync_delivery(PassResult& r);
  void sync_storage(PassResult& r);
  const std::string& delivery_feature_of(const std::string& tier) const;
  const std::string& storage_feature_of(const std::string& tier) const;

  const Settings& settings_;
  store::BillingStateStore& state_;
  UsageSource& usage_;
  const AutumnClient* client_;
  const core::Clock& clock_;
  SyncOptions options_;
  int64_t lease_until_ms_ = 0;  // our lease's expiry as we last wrote it; 0: not held
  Stats stats_;
};

}  // namespace rend::billing
