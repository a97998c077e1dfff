#pragma once
// The generic pieces of configuration. Each feature owns its settings struct and
// one parse() (src/*/settings.h); a role parses all of its features' settings up
// front (src/roles/settings.h) from one Env snapshot, before anything has a side
// effect. A bad value throws ConfigError naming the variable; roles print it and
// exit 2.
//
// Defaults are for the embedded single-machine setup (`rend dev`). Paths default to
// places under the data dir (`--data-dir`, default .rend/dev).
#include <string>

#include "core/env.h"

namespace rend::core {

// What every feature's parse() may depend on: local or production, and where local
// state lives.
struct Deployment {
  bool production = false;  // REND_ENV=production (default local)
  std::string data_dir;     // --data-dir
};
Deployment parse_deployment(const Env& env, const std::string& data_dir);

// An http(s) base URL without a trailing '/'; throws ConfigError naming `var`.
void check_base_url(const std::string& value, const std::string& var);

// "http://host:port" for a bind address (0.0.0.0 is shown as 127.0.0.1).
std::string url_for_bind(const HostPort& hp);

}  // namespace rend::core
