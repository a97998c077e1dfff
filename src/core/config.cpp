#include "core/config.h"

namespace rend::core {

Deployment parse_deployment(const Env& env, const std::string& data_dir) {
  auto mode = env.get_or("REND_ENV", "local");
  if (mode != "local" && mode != "production") throw ConfigError("REND_ENV must be local or production");
  return {.production = mode == "production", .data_dir = data_dir};
}

void check_base_url(const std::string& value, const std::string& var) {
  if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
    throw ConfigError(var + " must start with http:// or https://");
  if (value.back() == '/') throw ConfigError(var + " must not end with '/'");
}

std::string url_for_bind(const HostPort& hp) {
  std::string host = hp.host == "0.0.0.0" ? "127.0.0.1" : hp.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(hp.port);
}

}  // namespace rend::core
