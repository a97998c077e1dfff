#pragma once
// Limits every HTTP listener of a role applies, parsed once.
#include <cstdint>

#include "core/env.h"

namespace rend::http {

struct Settings {
  uint64_t max_connections = 10000;        // REND_HTTP_MAX_CONNECTIONS, per listener
  uint64_t min_body_bytes_per_sec = 1024;  // REND_HTTP_MIN_BODY_BYTES_PER_SEC, 0 = off
};

// Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env);

}  // namespace rend::http
