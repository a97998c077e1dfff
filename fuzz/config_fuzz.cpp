// Configuration values: the input is an environment, "NAME=value" per line, fed to
// every role's parse function (roles::parse_api etc.: durations, sizes, booleans, URLs, host:port, lists such as
// REND_EXPECTED_EDGES, the player's edge selection settings) and to the route table
// parser. Invariant: a bad value is a core::ConfigError, never a crash or another
// exception.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/env.h"
#include "fuzz_util.h"
#include "readiness/settings.h"
#include "roles/settings.h"
#include "routing/routing.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // A leading "{" line: the route table JSON instead of an environment.
  if (!in.empty() && in.front() == '{') {
    try {
      const auto table = routing::parse_route_table(in, "fuzz.json");
      FUZZ_CHECK(table.routes.empty() || table.find(table.default_route_id) != nullptr);
      for (const auto& r : table.routes) FUZZ_CHECK(routing::normalize_base_url(r.base_url).has_value());
    } catch (const core::ConfigError&) {
    }
    return 0;
  }
  std::map<std::string, std::string> vars;
  while (!in.empty()) {
    const std::string_view line = fuzz::take_line(in);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    vars[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  // The route table file is read when set; a device such as /dev/zero would never end.
  vars.erase("REND_PLAYER_ROUTES_FILE");
  // The data dir is never created by parsing; point it somewhere harmless anyway.
  const core::Env env(vars);
  const std::string data_dir = "/nonexistent/rend-fuzz";
  auto guarded = [](auto&& parse) {
    try {
      parse();
    } catch (const core::ConfigError&) {
    }
  };
  guarded([&] { roles::parse_store_commands(env, data_dir); });
  guarded([&] { roles::parse_api(env, data_dir); });
  guarded([&] { roles::parse_worker(env, data_dir); });
  guarded([&] { roles::parse_edge(env, data_dir); });
  guarded([&] { roles::parse_dev(env, data_dir, 3); });
  guarded([&] { readiness::parse_configured(env); });  // rend readiness --target configured
  for (bool production : {false, true}) guarded([&] { routing::parse_selection_config(env, production); });
  for (const auto& kv : vars) {
    const std::string& name = kv.first;  // clang 14 lambdas cannot capture structured bindings
    const std::string& value = kv.second;
    guarded([&] { env.get_u64(name, 7); });
    guarded([&] { env.get_bool(name, false); });
    guarded([&] { env.get_millis(name, 7); });
    guarded([&] { core::parse_host_port(value, name); });
    for (const auto& entry : env.get_list(name))
      FUZZ_CHECK(!entry.empty() && entry.front() != ' ' && entry.back() != ' ');
  }
  return 0;
}
