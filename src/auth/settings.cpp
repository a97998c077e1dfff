#include "auth/settings.h"

namespace rend::auth {

Settings parse(const core::Env& env, const core::Deployment& deployment) {
  Settings s;
  s.production = deployment.production;
  s.signing_key_id = env.get_or("REND_PLAYBACK_SIGNING_KEY_ID", "dev");
  s.signing_secret = env.get_or("REND_PLAYBACK_SIGNING_SECRET", "");
  s.edge_internal_token = env.get_or("REND_EDGE_INTERNAL_TOKEN", "");
  if (s.signing_secret.size() < 32)
    throw core::ConfigError("REND_PLAYBACK_SIGNING_SECRET must be set to at least 32 characters");
  if (s.production && s.edge_internal_token.size() < 32)
    throw core::ConfigError("REND_EDGE_INTERNAL_TOKEN must be set to at least 32 characters when REND_ENV=production");
  return s;
}

}  // namespace rend::auth
