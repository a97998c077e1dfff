#pragma once
// Resumable uploads' settings, parsed once by the API role (api::parse).
#include <cstdint>

#include "core/env.h"

namespace rend::uploads {

struct Settings {
  // REND_UPLOAD_EXPIRY_SECS (default 86400): a tus upload not finished this long after
  // its creation expires (Upload-Expires); the sweeper then discards what it stored.
  int64_t expiry_secs = 86400;
};

// Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env);

}  // namespace rend::uploads
