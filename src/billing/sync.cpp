#include "billing/sync.h"

#include <algorithm>
#include <map>
#include <thread>

#include "core/crypto.h"
#include "core/log.h"

namespace rend::billing {

namespace {

// Autumn does not document a bound on idempotency keys; 128 characters keeps every
// key well inside any sensible one, and longer ones (long account ids) are hashed.
constexpr size_t kMaxKeyLength = 128;
// Consecutive retryable failures back off exponentially up to this, even when the
// server asks for less (or gives no Retry-After: the client's default is 1 s).
constexpr int64_t kMaxBackoffMs = 60'000;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool default_sleep(int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return true;
}

}  // namespace

std::string delivery_key(const std::string& account_id, const std::string& feature_id, int64_t start_ms,
                         int64_t end_ms) {
  std::string key =
      "rend-dlv-" + account_id + "-" + feature_id + "-" + std::to_string(start_ms) + "-" + std::to_string(end_ms);
  if (key.size() <= kMaxKeyLength) return key;
  return "rend-dlv-" + core::sha256_hex(key);
}

Sync::Sync(const Settings& settings, store::BillingStateStore& state, UsageSource& usage, const AutumnClient* client,
           const core::Clock& clock, SyncOptions options)
    : settings_(settings),
      state_(state),
      usage_(usage),
      // Local mode never touches the network, whatever the caller passed.
      client_(settings.mode == Mode::autumn ? client : nullptr),
      clock_(clock),
      options_(std::move(options)) {
  if (!options_.sleep) options_.sleep = default_sleep;
  if (settings_.delivery_sync_max_window_secs == 0 || settings_.storage_sync_max_window_secs == 0)
    throw std::invalid_argument("billing sync: the window lengths must be at least 1 s");
  if (settings_.mode == Mode::autumn && !client_)
    throw std::invalid_argument("billing sync: autumn mode needs an Autumn client");
}

bool Sync::ensure_lease() {
  const int64_t now = clock_.now_unix_ms();
  // Renew once half the TTL is used: nobody can take the lease before it expires, so
  // until then our own record of its expiry is enough to know we hold it.
  if (lease_until_ms_ != 0 && now < lease_until_ms_ - options_.lease_ttl_ms / 2) return true;
  const bool held = lease_until_ms_ != 0
                        ? state_.renew_lease(options_.lease_name, options_.holder, options_.lease_ttl_ms, now)
                        : state_.try_acquire_lease(options_.lease_name, options_.holder, options_.lease_ttl_ms, now);
  lease_until_ms_ = held ? now + options_.lease_ttl_ms : 0;
  return held;
}

void Sync::release() {
  if (lease_until_ms_ == 0) return;
  state_.release_lease(options_.lease_name, options_.holder);
  lease_until_ms_ = 0;
}

void Sync::run(int64_t interval_ms) {
  do {
    // Caught here, once, at the top of the job (the error policy): a store outage or
    // an unexpected answer must not end billing for the life of the process.
    try {
      run_once();
    } catch (const std::exception& e) {
      lease_until_ms_ = 0;  // re-check the lease from the store after an outage
      core::log::warn("billing_sync_pass_failed", {{"error", std::string_view(e.what())}});
    }
  } while (options_.sleep(interval_ms));
  try {
    release();
  } catch (const std::exception& e) {
    core::log::warn("billing_sync_release_failed", {{"error", std::string_view(e.what())}});
  }
}

PassResult Sync::run_once() {
  PassResult r;
  // A lease we believe held may have expired while we were idle: start afresh.
  if (lease_until_ms_ != 0 && clock_.now_unix_ms() >= lease_until_ms_) lease_until_ms_ = 0;
  if (!ensure_lease()) return r;
  r.lease_held = true;
  sync_delivery(r);
  if (!r.lease_lost && !r.error) sync_storage(r);
  return r;
}

Sync::Sent Sync::send(const std::string& stream, const TrackEvent& e, bool absolute, PassResult& r) {
  int64_t backoff_ms = 1000;
  for (;;) {
    // Checked before every request, including retries: a process whose lease was
    // taken over sends nothing more.
    if (!ensure_lease()) {
      r.lease_lost = true;
      return Sent::lease_lost;
    }
    const TrackResult t = absolute ? client_->set_usage(e.customer_id, e.feature_id, e.value) : client_->track(e);
    if (t.outcome == TrackResult::Outcome::recorded) {
      ++r.calls_sent;
      ++stats_.calls_sent;
      return Sent::ok;
    }
    if (t.outcome == TrackResult::Outcome::failed) {
      // A configuration error (401, 404 feature_not_found, 400): retrying now cannot
      // help; the window stays uncommitted and is tried again next pass.
      state_.record_attempt(stream, clock_.now_unix_ms(), t.error, false);
      core::log::warn("billing_sync_failed", {{"stream", stream},
                                              {"feature", e.feature_id},
                                              {"status", int64_t(t.status)},
                                              {"error", t.error}});
      r.error = t.error;
      return Sent::failed;
    }
    ++r.retries;
    ++stats_.retries;
    state_.record_attempt(stream, clock_.now_unix_ms(), t.error, true);
    const int64_t wait = std::max(t.retry_after_secs * 1000, backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
    core::log::info("billing_sync_retry",
                    {{"stream", stream}, {"status", int64_t(t.status)}, {"wait_ms", wait}, {"error", t.error}});
    if (!options_.sleep(wait)) return Sent::stopped;
  }
}

bool Sync::commit(const std::string& stream, std::optional<int64_t> old_end, int64_t new_end,
                  const std::vector<store::WindowRecord>& records, PassResult& r) {
  if (!state_.commit_cursor(stream, {options_.lease_name, options_.holder}, old_end, new_end, records,
                            clock_.now_unix_ms())) {
    // The lease is gone (or another process moved the cursor): stop; whoever holds
    // the lease resends this window under the same keys.
    r.lease_lost = true;
    lease_until_ms_ = 0;
    return false;
  }
  return true;
}

const std::string& Sync::delivery_feature_of(const std::string& tier) const {
  // An unknown tier is billed as the lowest rather than not at all (never a free
  // minute, never a higher price than the least the video could be).
  if (tier_index(tier) < 0) {
    core::log::warn("billing_unknown_tier", {{"tier", tier}});
    return settings_.delivery_features[0];
  }
  return settings_.delivery_feature(tier);
}

const std::string& Sync::storage_feature_of(const std::string& tier) const {
  if (tier_index(tier) < 0) {
    core::log::warn("billing_unknown_tier", {{"tier", tier}});
    return settings_.storage_features[0];
  }
  return settings_.storage_feature(tier);
}

void Sync::sync_delivery(PassResult& r) {
  const std::string stream(kDeliveryStream);
  const int64_t width = int64_t(settings_.delivery_sync_max_window_secs) * 1000;
  const int64_t lag = int64_t(settings_.delivery_sync_lag_secs) * 1000;
  std::optional<int64_t> cursor = state_.get_cursor(stream);
  if (!cursor) {
    // The first window starts at the earliest delivery, not at time 0; committed on
    // its own so every later window follows from the cursor alone.
    auto earliest = usage_.earliest_delivery_ms();
    if (!earliest) return;
    if (!commit(stream, std::nullopt, *earliest, {}, r)) return;
    cursor = earliest;
  }
  for (;;) {
    const int64_t start = *cursor;
    const int64_t end = (floor_div(start, width) + 1) * width;
    const int64_t horizon = clock_.now_unix_ms() - lag;
    stats_.delivery_lag_ms = std::max<int64_t>(0, horizon - start);
    if (end > horizon) return;
    state_.record_attempt(stream, clock_.now_unix_ms(), std::nullopt, false);

    // Sum per (account, feature): several tiers never share a feature (settings
    // check that all eight ids differ), but a source may return several rows.
    std::map<std::pair<std::string, std::string>, double> seconds;
    for (const auto& d : usage_.delivered(start, end))
      if (d.media_seconds > 0) seconds[{d.account_id, delivery_feature_of(d.tier)}] += d.media_seconds;

    std::vector<store::WindowRecord> records;
    for (const auto& [k, secs] : seconds) {
      store::WindowRecord rec{k.first, k.second, secs / 60.0, ""};
      if (client_) {
        rec.idempotency_key = delivery_key(rec.account_id, rec.feature_id, start, end);
        TrackEvent e{rec.account_id, rec.feature_id, rec.value, rec.idempotency_key, end - 1};
        if (send(stream, e, false, r) != Sent::ok) return;
      }
      records.push_back(std::move(rec));
    }
    if (options_.before_commit) options_.before_commit(start, end);
    if (!commit(stream, start, end, records, r)) return;
    ++r.windows_committed;
    ++stats_.windows_committed;
    cursor = end;
  }
}

void Sync::sync_storage(PassResult& r) {
  const std::string stream(kStorageStream);
  const int64_t every = int64_t(settings_.storage_sync_max_window_secs) * 1000;
  const int64_t end = clock_.now_unix_ms() - int64_t(settings_.storage_sync_lag_secs) * 1000;
  std::optional<int64_t> cursor = state_.get_cursor(stream);
  if (cursor && end - *cursor < every) return;
  if (!cursor) {
    // A first, empty window, so the snapshot below is a window [start, end) like
    // every later one and the next snapshot finds it by its end.
    if (!commit(stream, std::nullopt, end - every, {}, r)) return;
    cursor = end - every;
  }
  state_.record_attempt(stream, clock_.now_unix_ms(), std::nullopt, false);

  std::map<std::pair<std::string, std::string>, double> minutes;
  for (const auto& s : usage_.stored())
    if (s.minutes > 0) minutes[{s.account_id, storage_feature_of(s.tier)}] += s.minutes;
  // An (account, feature) that held video at the last snapshot and holds none now
  // must be set to 0, or Autumn would keep billing the old value.
  for (const auto& prev : state_.list_windows(stream, *cursor - 1, *cursor))
    if (prev.record.value > 0) minutes.try_emplace({prev.record.account_id, prev.record.feature_id}, 0.0);

  std::vector<store::WindowRecord> records;
  for (const auto& [k, value] : minutes) {
    store::WindowRecord rec{k.first, k.second, value, ""};
    // Absolute usage is idempotent by nature: resending after a crash sets the same
    // value again, so it needs no key.
    if (client_ && send(stream, TrackEvent{rec.account_id, rec.feature_id, value, "", 0}, true, r) != Sent::ok) return;
    records.push_back(std::move(rec));
  }
  if (!commit(stream, *cursor, end, records, r)) return;
  ++r.windows_committed;
  ++stats_.windows_committed;
}

}  // namespace rend::billing
