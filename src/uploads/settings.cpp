#include "uploads/settings.h"

#include "core/config.h"

namespace rend::uploads {

Settings parse(const core::Env& env) {
  Settings s;
  const uint64_t expiry = env.get_u64("REND_UPLOAD_EXPIRY_SECS", 86400);
  // A year at most: the value becomes milliseconds and an HTTP date.
  if (expiry == 0 || expiry > 366ull * 86400)
    throw core::ConfigError("REND_UPLOAD_EXPIRY_SECS must be between 1 and 31622400");
  s.expiry_secs = int64_t(expiry);
  return s;
}

}  // namespace rend::uploads
