#include "http/settings.h"

namespace rend::http {

Settings parse(const core::Env& env) {
  Settings s;
  s.max_connections = env.get_u64("REND_HTTP_MAX_CONNECTIONS", 10000);
  if (s.max_connections == 0) throw core::ConfigError("REND_HTTP_MAX_CONNECTIONS must be at least 1");
  s.min_body_bytes_per_sec = env.get_u64("REND_HTTP_MIN_BODY_BYTES_PER_SEC", 1024);
  return s;
}

}  // namespace rend::http
