#include "webhooks/backoff.h"

#include <algorithm>

namespace rend::webhooks {

int64_t retry_delay_ms(const Settings& s, int failed_attempts, double jitter01) {
  int64_t delay = s.retry_base_ms;
  // Doubling stops at the cap, so no shift overflows however many attempts there were.
  for (int i = 1; i < failed_attempts && delay < s.max_delay_ms; ++i) delay *= 2;
  delay = std::min(delay, s.max_delay_ms);
  const double factor = 0.5 + 0.5 * std::clamp(jitter01, 0.0, 1.0);
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(delay) * factor));
}

std::optional<int64_t> next_attempt_at_ms(const Settings& s, int failed_attempts, int64_t now_ms,
                                          int64_t event_created_at_ms, double jitter01) {
  const int64_t at = now_ms + retry_delay_ms(s, failed_attempts, jitter01);
  if (at > event_created_at_ms + s.give_up_after_ms) return std::nullopt;
  return at;
}

}  // namespace rend::webhooks
