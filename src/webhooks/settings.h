#pragma once
// Webhook delivery settings, parsed once at start (docs/webhooks.md).
#include <cstdint>

#include "core/env.h"

namespace rend::webhooks {

struct Settings {
  // REND_WEBHOOK_RETRY_BASE_MS (default 10000, at most 10000): the first retry's
  // delay before jitter; each later one doubles, capped at an hour. A test knob:
  // the integration tests shorten it to see several retries in seconds.
  int64_t retry_base_ms = 10'000;
  // Fixed: how long one attempt may take, and how long a claim is leased beyond it
  // (a lease must outlive the attempt, or a second process could send it too).
  int64_t timeout_ms = 10'000;
  int64_t lease_margin_ms = 30'000;
  // How often an idle dispatcher looks for due deliveries (the worker, another
  // process, writes events; there is no cross-process wake-up for them).
  int64_t poll_ms = 250;
  // Give up (status failed) once the next attempt would be this long after the event.
  int64_t give_up_after_ms = 24LL * 3600 * 1000;
  int64_t max_delay_ms = 3600LL * 1000;
  // After POST /v1/webhooks/{id}/rotate-secret the previous secret signs too, this long.
  int64_t previous_secret_ms = 24LL * 3600 * 1000;
};

// Throws core::ConfigError naming the variable.
Settings parse_settings(const core::Env& env);

}  // namespace rend::webhooks
