// Env files (`rend env check`, issue 14): the input is a file's text, parsed as
// KEY=value lines and then checked for every role, with and without dev defaults.
// Invariant: whatever the file holds, the check answers with problems (each with a
// message, each naming a variable or a line), never a crash or an exception.
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "roles/env_check.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  roles::SourcedEnv env;
  for (const auto& p : roles::parse_env_text(text, "fuzz.env", env)) FUZZ_CHECK(!p.message.empty());
  // The route table file is read when set; a device such as /dev/zero would never end.
  env.erase("REND_PLAYER_ROUTES_FILE");
  for (auto role : {roles::CheckRole::api, roles::CheckRole::worker, roles::CheckRole::edge})
    for (bool allow : {false, true}) {
      roles::CheckOptions opts{.allow_dev_defaults = allow,
                               .data_dir = "/nonexistent/rend-fuzz",
                               .sources_label = "fuzz.env"};
      for (const auto& p : roles::check_role_env(role, env, opts)) FUZZ_CHECK(!p.message.empty() && !p.source.empty());
    }
  return 0;
}
