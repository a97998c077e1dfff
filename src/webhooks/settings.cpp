#include "webhooks/settings.h"

namespace rend::webhooks {

Settings parse_settings(const core::Env& env) {
  Settings s;
  const uint64_t base = env.get_u64("REND_WEBHOOK_RETRY_BASE_MS", 10'000);
  // The contract promises the first retry within 10 s; a larger base would break it.
  if (base < 1 || base > 10'000)
    throw core::ConfigError("REND_WEBHOOK_RETRY_BASE_MS must be from 1 to 10000 (milliseconds)");
  s.retry_base_ms = static_cast<int64_t>(base);
  return s;
}

}  // namespace rend::webhooks
