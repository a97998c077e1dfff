#pragma once
// Environment access for config parsing. Config is read once, at startup, from an
// Env snapshot (never from getenv() deeper in the code), so tests can build configs
// from plain maps and `rend dev` can overlay generated dev secrets.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rend::core {

// A bad or missing setting. The message always names the variable.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Env {
 public:
  Env() = default;
  explicit Env(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  static Env from_process();

  // Unset and empty are the same: an empty variable means "use the default".
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& def) const;
  std::string require(const std::string& name) const;
  uint64_t get_u64(const std::string& name, uint64_t def) const;
  bool get_bool(const std::string& name, bool def) const;
  // A duration given in seconds, fractions allowed ("0.25"), returned in milliseconds.
  uint64_t get_millis(const std::string& name, uint64_t def_ms) const;
  // Comma-separated list, entries trimmed, empty entries dropped.
  std::vector<std::string> get_list(const std::string& name) const;

  void set(const std::string& name, const std::string& value) { vars_[name] = value; }
  // Sets only when unset or empty.
  void set_default(const std::string& name, const std::string& value);
  const std::map<std::string, std::string>& vars() const { return vars_; }

 private:
  std::map<std::string, std::string> vars_;
};

// "host:port" -> parts; throws ConfigError naming `var` on a malformed value.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
HostPort parse_host_port(const std::string& value, const std::string& var);

}  // namespace rend::core
