#include "core/env.h"

#include <algorithm>
#include <charconv>

extern char** environ;

namespace rend::core {

Env Env::from_process() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    vars.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return Env(std::move(vars));
}

std::optional<std::string> Env::get(const std::string& name) const {
  auto it = vars_.find(name);
  if (it == vars_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string Env::get_or(const std::string& name, const std::string& def) const { return get(name).value_or(def); }

std::string Env::require(const std::string& name) const {
  auto v = get(name);
  if (!v) throw ConfigError(name + " is required but not set");
  return *v;
}

uint64_t Env::get_u64(const std::string& name, uint64_t def) const {
  auto v = get(name);
  if (!v) return def;
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size())
    throw ConfigError(name + " must be a non-negative integer, got '" + *v + "'");
  return out;
}

uint64_t Env::get_millis(const std::string& name, uint64_t def_ms) const {
  auto v = get(name);
  if (!v) return def_ms;
  double secs = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
  if (ec != std::errc() || p != v->data() + v->size() || !(secs >= 0) || secs > 1e9)
    throw ConfigError(name + " must be a non-negative number of seconds, got '" + *v + "'");
  return static_cast<uint64_t>(secs * 1000 + 0.5);
}

bool Env::get_bool(const std::string& name, bool def) const {
  auto v = get(name);
  if (!v) return def;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw ConfigError(name + " must be true or false, got '" + *v + "'");
}

std::vector<std::string> Env::get_list(const std::string& name) const {
  std::vector<std::string> out;
  auto v = get(name);
  if (!v) return out;
  size_t start = 0;
  while (start <= v->size()) {
    size_t end = v->find(',', start);
    if (end == std::string::npos) end = v->size();
    std::string item = v->substr(start, end - start);
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = end + 1;
  }
  return out;
}

void Env::set_default(const std::string& name, const std::string& value) {
  if (!get(name)) vars_[name] = value;
}

HostPort parse_host_port(const std::string& value, const std::string& var) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) throw ConfigError(var + " must be host:port, got '" + value + "'");
  HostPort hp;
  hp.host = value.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  unsigned port = 0;
  auto ps = value.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc() || p != ps.data() + ps.size() || port > 65535)
    throw ConfigError(var + " has an invalid port in '" + value + "'");
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

}  // namespace rend::core
