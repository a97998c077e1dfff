#pragma once
// The shared credentials: the playback signing key every role signs or checks
// tokens with, and the bearer token edges and the control plane present to each
// other. The API, edge and worker settings each carry a copy as `common` (with the
// deployment mode it was checked under), so handlers read `cfg.common.signing_secret`.
#include <string>
#include <vector>

#include "auth/playback_token.h"
#include "core/config.h"

namespace rend::auth {

struct Settings {
  bool production = false;     // REND_ENV=production
  std::string signing_key_id;  // REND_PLAYBACK_SIGNING_KEY_ID, default dev
  std::string signing_secret;  // REND_PLAYBACK_SIGNING_SECRET, at least 32 characters
  // REND_PLAYBACK_PREVIOUS_SIGNING_KEYS=kid=secret[,kid=secret]: keys that no longer
  // sign but are still accepted, so tokens minted before a rotation keep playing until
  // they expire (README, "Rotating the playback signing key"). Same rules as the
  // current key; ids unique, never the current id.
  std::vector<SigningKey> previous_signing_keys;
  std::string edge_internal_token;  // REND_EDGE_INTERNAL_TOKEN, at least 32 characters in production
};

// Throws core::ConfigError naming the variable (never echoing a secret).
Settings parse(const core::Env& env, const core::Deployment& deployment);

// The keys a playback token is verified with: the current one, then the previous
// ones. A token whose key id is not among them is refused (unknown_key → 401).
std::vector<SigningKey> accepted_signing_keys(const Settings& s);

}  // namespace rend::auth
