#include "readiness/local_stack.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/strings.h"
#include "http/client.h"

namespace rend::readiness {
namespace {

using namespace std::chrono_literals;

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string read_file_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

core::Env local_stack_env(core::Env base, core::ProcessRunner& runner, const std::string& rend_bin, bool start,
                          std::ostream& progress) {
  const std::string stack_dir = base.get_or("REND_STACK_DIR", ".rend/stack");
  const std::string env_file = stack_dir + "/env";
  core::ProcessOptions po;
  po.timeout = 10min;
  if (start) {
    progress << "readiness: scripts/stack up --two-edge (reuses what already runs)" << std::endl;
    // Its progress goes to stderr and the env (secrets included) to stdout: keep both off the terminal.
    auto up = runner.run({"env", "REND_BIN=" + rend_bin, "scripts/stack", "up", "--two-edge"}, po);
    if (up.exit_code != 0)
      throw std::runtime_error("scripts/stack up --two-edge failed (exit " + std::to_string(up.exit_code) + "); see " +
                               stack_dir + "/*/ logs");
  }
  if (!std::filesystem::exists(env_file))
    throw std::runtime_error("no local stack env at " + env_file +
                             " (run without --skip-local-stack, or scripts/stack up --two-edge)");

  // The env file is shell (`export VAR=value`, %q-quoted): let bash read it.
  auto vars =
      runner.run({"bash", "-c",
                  "set -a; . \"$1\"; printf '%s\\n' \"$REND_API_PUBLIC_BASE_URL\" \"$REND_EDGE_INTERNAL_TOKEN\"",
                  "bash", env_file},
                 po);
  auto nl = vars.out.find('\n');
  if (vars.exit_code != 0 || nl == std::string::npos) throw std::runtime_error("cannot read " + env_file);
  const std::string api = vars.out.substr(0, nl);
  const std::string token = first_line(vars.out.substr(nl + 1));

  std::string edges;
  for (const auto& [id, region] : {std::pair{"edge-us-east", "us-east"}, std::pair{"edge-london", "london"}}) {
    auto port = read_file_line(stack_dir + "/" + id + "/port");
    if (port.empty())
      throw std::runtime_error(std::string(id) + " was never started in " + stack_dir +
                               " (scripts/stack up --two-edge)");
    edges += (edges.empty() ? "" : ",") + std::string(id) + "=" + region + "=http://127.0.0.1:" + port;
  }

  const std::string key_file = stack_dir + "/readiness-api-key";
  std::string key = read_file_line(key_file);
  if (!key.empty()) {
    http::ClientRequest q;
    q.url = api + "/v1/account";
    q.headers = {{"Authorization", "Bearer " + key}};
    q.timeout = 5s;
    if (http::send(q).status != 200) key.clear();  // revoked, or a stack dir started afresh
  }
  if (key.empty()) {
    progress << "readiness: creating an API key for the gate (upload, read, delete, analytics)" << std::endl;
    auto made = runner.run({"bash", "-c",
                            "set -a; . \"$1\"; exec \"$2\" keys create --scopes upload,read,delete,analytics "
                            "--name readiness-gate --data-dir \"$3\" 2>/dev/null",
                            "bash", env_file, rend_bin, stack_dir + "/rend"},
                           po);
    key = first_line(made.out);
    if (made.exit_code != 0 || key.empty()) throw std::runtime_error("rend keys create failed on the local stack");
    std::ofstream out(key_file, std::ios::trunc);
    out << key << "\n";
    out.close();
    ::chmod(key_file.c_str(), 0600);
  }
  base.set("REND_API_BASE_URL", api);
  base.set("REND_READINESS_API_KEY", key);
  base.set("REND_EDGE_INTERNAL_TOKEN", token);
  base.set("REND_READINESS_EDGES", edges);
  return base;
}

}  // namespace rend::readiness
