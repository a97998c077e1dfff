#pragma once
// The retry schedule (docs/webhooks.md): after the n-th failed attempt the next one
// waits base * 2^(n-1), capped at max_delay, times a jitter factor in [0.5, 1] (so
// receivers that failed together do not all come back in the same second). Once the
// next attempt would fall after the event's give-up time the delivery is failed.
#include <cstdint>
#include <optional>

#include "webhooks/settings.h"

namespace rend::webhooks {

// The delay before attempt n+1 after `failed_attempts` (>= 1) failures; jitter01 in [0, 1].
int64_t retry_delay_ms(const Settings& s, int failed_attempts, double jitter01);

// When to try again, or nullopt to give up (status failed).
std::optional<int64_t> next_attempt_at_ms(const Settings& s, int failed_attempts, int64_t now_ms,
                                          int64_t event_created_at_ms, double jitter01);

}  // namespace rend::webhooks
