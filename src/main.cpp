// rend: one binary, several roles (SPEC §1). Only main reads argv; each role gets
// its configuration parsed once into structs.
#include <iostream>
#include <string>
#include <vector>

#include "core/env.h"
#include "core/log.h"
#include "http/client.h"
#include "roles/env_check.h"
#include "roles/roles.h"

namespace {

const char* kUsage =
    "usage: rend <command> [--data-dir DIR]\n"
    "\n"
    "commands:\n"
    "  dev                 API + media worker + edge on embedded stores (default data dir .rend/dev)\n"
    "  api                 the control plane\n"
    "  worker media        the media worker\n"
    "  edge                a playback edge\n"
    "  migrate             apply database migrations and the analytics schema, then exit\n"
    "  clickhouse-init     apply only the analytics schema (ClickHouse or SQLite), then exit\n"
    "  accounts create --name N\n"
    "                      create an account (owns keys and assets) and print its id\n"
    "  accounts list       list accounts\n"
    "  keys create [--account ID] --scopes upload,read,delete,analytics [--name N]\n"
    "                      create an API key and print it once (without --account,\n"
    "                      in a new account of its own)\n"
    "  keys list [--account ID]\n"
    "                      list keys: id, account, name, scopes, created, revoked (never secrets)\n"
    "  keys revoke KEY_ID  revoke a key (its account keeps its assets)\n"
    "  billing status      the usage sync: mode, lease holder, per stream its cursor, lag,\n"
    "                      pending windows, last attempt, retries and last error\n"
    "  env check --role api|worker|edge|control-plane|edge-host|all [--env-file F]...\n"
    "            [--api-env F] [--worker-env F] [--edge-env F] [--allow-dev-defaults]\n"
    "                      check production env files: every problem, one line each, exit 1\n"
    "  readiness [--target local|configured] [--skip-local-stack] [--strict]\n"
    "                      the playback readiness gate: upload, edges, telemetry, cleanup;\n"
    "                      exit 0 pass/warn, 1 fail, 2 warn with --strict (docs/launch-gate-v1.md)\n"
    "\n"
    "Flags are given as --flag value or --flag=value; an unknown one is an error.\n"
    "Configuration comes from environment variables; see README.md.\n";

}  // namespace

int main(int argc, char** argv) {
  rend::roles::block_shutdown_signals();
  rend::http::client_global_init();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (cmd == "dev") return rend::roles::run_dev(rest);
    if (cmd == "api") return rend::roles::run_api(rest);
    if (cmd == "worker") return rend::roles::run_worker(rest);
    if (cmd == "edge") return rend::roles::run_edge(rest);
    if (cmd == "migrate") return rend::roles::run_migrate(rest);
    if (cmd == "keys") return rend::roles::run_keys(rest);
    if (cmd == "accounts") return rend::roles::run_accounts(rest);
    if (cmd == "billing") return rend::roles::run_billing(rest);
    if (cmd == "readiness") return rend::roles::run_readiness(rest);
    if (cmd == "clickhouse-init") return rend::roles::run_clickhouse_init(rest);
    if (cmd == "env") return rend::roles::run_env(rest);
    std::cerr << "rend: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const rend::core::ConfigError& e) {
    std::cerr << "rend " << cmd << ": configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "rend " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
