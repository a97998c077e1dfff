// The subcommands: parse flags, parse config once, wire roles, wait for a signal.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "auth/api_keys.h"
#include "billing/sync.h"
#include "control/edge_control.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/process.h"
#include "http/client.h"
#include "readiness/local_stack.h"
#include "readiness/runner.h"
#include "roles/env_check.h"
#include "roles/roles.h"
#include "store/factory.h"

namespace fs = std::filesystem;

namespace rend::roles {
namespace {

struct Flags {
  std::string data_dir = ".rend/dev";
  std::string scopes = "all";
  std::string name = "default";
  int edges = 1;        // rend dev --edges N
  std::string account;  // rend keys create/list --account ID
  unsigned given = 0;   // the Flag bits present on the command line
};

// Each command's flags are matched exactly, as `--flag value` or `--flag=value`; any
// other argument (a misspelt flag, one another command takes, a stray word) is an
// error naming it, so a typo never silently falls back to a default data dir.
enum Flag : unsigned { kDataDir = 1, kScopes = 2, kName = 4, kEdges = 8, kAccount = 16 };

Flags parse_flags(const std::vector<std::string>& args, unsigned allowed = kDataDir) {
  static constexpr std::pair<const char*, Flag> kNames[] = {
      {"--data-dir", kDataDir}, {"--scopes", kScopes}, {"--name", kName}, {"--edges", kEdges}, {"--account", kAccount}};
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto eq = a.find('=');
    std::string name = a.rfind("--", 0) == 0 ? a.substr(0, eq) : a;
    Flag flag{};
    for (const auto& [n, fl] : kNames)
      if (name == n && (allowed & fl)) flag = fl;
    if (!flag) throw core::ConfigError("unknown argument '" + name + "'");
    std::string value;
    if (eq != std::string::npos) value = a.substr(eq + 1);
    else if (i + 1 < args.size()) value = args[++i];
    else throw core::ConfigError(name + " needs a value");
    f.given |= flag;
    switch (flag) {
      case kDataDir: f.data_dir = value; break;
      case kScopes: f.scopes = value; break;
      case kName:
        // Names are printed one per line, tab-separated (keys list, accounts list).
        if (std::ranges::any_of(value, [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
          throw core::ConfigError("--name must not contain control characters (tabs, newlines)");
        f.name = value;
        break;
      case kEdges:
        if (value != "1" && value != "2" && value != "3") throw core::ConfigError("--edges must be 1, 2 or 3");
        f.edges = std::stoi(value);
        break;
      case kAccount:
        if (value.empty()) throw core::ConfigError("--account must not be empty");
        f.account = value;
        break;
    }
  }
  if (f.data_dir.empty()) throw core::ConfigError("--data-dir must not be empty");
  return f;
}

// Parses every setting of a command before anything touches the disk: first with
// the local secrets previewed (read if present, otherwise random stand-ins), so a bad
// value is reported before the data dir exists; then, after the secrets file is
// loaded or created, again with the secrets the command will really use.
template <class Parse>
auto parse_for(const Flags& f, Parse parse) {
  auto env = core::Env::from_process();
  {
    core::Env preview = env;
    preview_local_secrets(preview, f.data_dir);
    parse(preview);
  }
  load_local_secrets(env, f.data_dir);
  return parse(env);
}

// Creates an account and returns its id.
std::string create_account(store::MetadataStore& meta, const std::string& name) {
  store::Account a{core::new_id("acc"), name, core::SystemClock().now_unix_ms()};
  meta.create_account(a);
  return a.id;
}

// Creates an API key of `account_id` and returns its secret (shown once; only the
// hash is stored).
std::string create_key(store::MetadataStore& meta, const std::vector<std::string>& scopes, const std::string& name,
                       const std::string& account_id) {
  auto k = auth::generate_api_key();
  store::ApiKey key;
  key.id = k.id;
  key.account_id = account_id;
  key.name = name;
  key.secret_hash = k.secret_hash;
  key.scopes = scopes;
  key.created_at_ms = core::SystemClock().now_unix_ms();
  meta.create_api_key(key);
  return k.secret;
}

// `rend dev` keeps one all-scopes key in {data_dir}/api-key across restarts.
std::string dev_api_key(store::MetadataStore& meta, const std::string& data_dir) {
  std::string path = data_dir + "/api-key";
  std::ifstream in(path);
  std::string secret, account;
  std::getline(in, secret);
  if (!secret.empty()) {
    auto k = meta.find_api_key_by_hash(auth::hash_api_key(secret));
    // A key from an older `rend dev` may lack a scope added since: make a new one.
    bool every_scope = k && std::ranges::all_of(auth::all_scopes(), [&](const std::string& s) {
                         return std::ranges::find(k->scopes, s) != k->scopes.end();
                       });
    if (k && !k->revoked_at_ms && every_scope) return secret;
    // The replacement joins the old key's account, so everything uploaded so far stays
    // visible to `rend dev`.
    if (k) account = k->account_id;
  }
  if (account.empty()) account = create_account(meta, "rend dev");
  secret = create_key(meta, auth::all_scopes(), "rend dev", account);
  std::ofstream out(path, std::ios::trunc);
  out << secret << "\n";
  out.close();
  ::chmod(path.c_str(), 0600);
  return secret;
}

}  // namespace

int run_migrate(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_store_commands(env, f.data_dir); });
  open_stores(cfg.store, true);
  core::log::info("migrations_applied");
  return 0;
}

// The analytics schema alone (compose's clickhouse-init one-shot); idempotent.
int run_clickhouse_init(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_store_commands(env, f.data_dir); });
  store::open_analytics_store(cfg.store)->ensure_schema();
  core::log::info("analytics_schema_applied", {{"backend", cfg.store.clickhouse.enabled() ? "clickhouse" : "sqlite"}});
  return 0;
}

namespace {

constexpr const char* kKeysUsage =
    "usage: rend keys create [--account ID] --scopes upload,read,delete,analytics,keys,operator [--name N]\n"
    "       rend keys list [--account ID]\n"
    "       rend keys revoke KEY_ID\n"
    "(keys create without --account makes an account of the key's own, named after the key)";
constexpr const char* kAccountsUsage =
    "usage: rend accounts create --name N\n"
    "       rend accounts list";

// The metadata store of a CLI command (migrated: the command may be the first to
// touch a new database).
store::MetadataStore& command_store(const Flags& f, std::optional<Stores>& stores) {
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_store_commands(env, f.data_dir); });
  stores.emplace(open_stores(cfg.store, true));
  return *stores->meta;
}

// An unknown account is the caller's mistake: say so (exit 2) and create nothing.
bool account_exists(store::MetadataStore& meta, const std::string& id, const char* command) {
  if (meta.get_account(id)) return true;
  std::cerr << "rend " << command << ": no account '" << id << "' (rend accounts list shows them)\n";
  return false;
}

std::string ts_or_dash(const std::optional<int64_t>& ms) { return ms ? core::format_rfc3339_ms(*ms) : "-"; }

}  // namespace

int run_keys(const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  if (sub == "create") {
    auto f = parse_flags({args.begin() + 1, args.end()}, kDataDir | kScopes | kName | kAccount);
    auto scopes = auth::parse_scopes(f.scopes);
    if (!scopes)
      throw core::ConfigError(
          "--scopes must list some of: upload, read, delete, analytics, keys, operator (or 'all': every scope but operator)");
    std::optional<Stores> stores;
    auto& meta = command_store(f, stores);
    std::string account = f.account;
    if (account.empty()) {
      account = create_account(meta, f.name);
      std::cerr << "created account " << account << " for this key (pass --account ID to add a key to an account)\n";
    } else if (!account_exists(meta, account, "keys create")) {
      return 2;
    }
    std::cout << create_key(meta, *scopes, f.name, account) << std::endl;
    return 0;
  }
  if (sub == "list") {
    auto f = parse_flags({args.begin() + 1, args.end()}, kDataDir | kAccount);
    std::optional<Stores> stores;
    auto& meta = command_store(f, stores);
    if (!f.account.empty() && !account_exists(meta, f.account, "keys list")) return 2;
    // Ids, names and dates only: the listing never carries a secret or its hash.
    std::cout << "ID\tACCOUNT\tNAME\tSCOPES\tCREATED\tREVOKED\n";
    for (const auto& k : meta.list_api_keys(f.account.empty() ? std::nullopt : std::optional(f.account))) {
      std::string scopes;
      for (const auto& sc : k.scopes) scopes += (scopes.empty() ? "" : ",") + sc;
      std::cout << k.id << "\t" << k.account_id << "\t" << k.name << "\t" << scopes << "\t"
                << core::format_rfc3339_ms(k.created_at_ms) << "\t" << ts_or_dash(k.revoked_at_ms) << "\n";
    }
    std::cout << std::flush;
    return 0;
  }
  if (sub == "revoke") {
    if (args.size() < 2 || args[1].rfind("--", 0) == 0) throw core::ConfigError(kKeysUsage);
    const std::string& id = args[1];
    auto f = parse_flags({args.begin() + 2, args.end()});
    std::optional<Stores> stores;
    auto& meta = command_store(f, stores);
    if (meta.revoke_api_key(id, core::SystemClock().now_unix_ms())) {
      std::cout << "revoked " << id << std::endl;
      return 0;
    }
    auto keys = meta.list_api_keys(std::nullopt);
    auto it = std::ranges::find(keys, id, &store::ApiKey::id);
    if (it == keys.end()) {
      std::cerr << "rend keys revoke: no API key '" << id << "' (rend keys list shows them)\n";
      return 2;
    }
    // Revoking twice is not an error: the key is revoked, as asked.
    std::cout << id << " was already revoked at " << ts_or_dash(it->revoked_at_ms) << std::endl;
    return 0;
  }
  throw core::ConfigError(kKeysUsage);
}

int run_accounts(const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  if (sub == "create") {
    auto f = parse_flags({args.begin() + 1, args.end()}, kDataDir | kName);
    if (!(f.given & kName) || f.name.empty()) throw core::ConfigError("accounts create needs --name N");
    std::optional<Stores> stores;
    auto& meta = command_store(f, stores);
    std::cout << create_account(meta, f.name) << std::endl;
    return 0;
  }
  if (sub == "list") {
    auto f = parse_flags({args.begin() + 1, args.end()});
    std::optional<Stores> stores;
    auto& meta = command_store(f, stores);
    std::cout << "ID\tNAME\tCREATED\n";
    for (const auto& a : meta.list_accounts())
      std::cout << a.id << "\t" << a.name << "\t" << core::format_rfc3339_ms(a.created_at_ms) << "\n";
    std::cout << std::flush;
    return 0;
  }
  throw core::ConfigError(kAccountsUsage);
}

// ---- rend billing status (issue 12) ----
namespace {
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Windows of `stream` due now and not yet committed, by the sync's own rules
// (billing/sync.h): delivery windows on the grid of the max window ending at least
// the lag ago; storage, one snapshot once the last is a max window old.
int64_t pending_windows(const billing::Settings& s, const store::StreamStatus& st, int64_t now_ms) {
  if (!st.cursor_ms) return 0;
  if (st.stream == billing::kDeliveryStream) {
    const int64_t width = int64_t(s.delivery_sync_max_window_secs) * 1000;
    const int64_t horizon = now_ms - int64_t(s.delivery_sync_lag_secs) * 1000;
    return std::max<int64_t>(0, floor_div(horizon, width) - floor_div(*st.cursor_ms, width));
  }
  if (st.stream == billing::kStorageStream) {
    const int64_t end = now_ms - int64_t(s.storage_sync_lag_secs) * 1000;
    return end - *st.cursor_ms >= int64_t(s.storage_sync_max_window_secs) * 1000 ? 1 : 0;
  }
  return 0;
}

int64_t lag_ms(const billing::Settings& s, const store::StreamStatus& st, int64_t now_ms) {
  if (!st.cursor_ms) return 0;
  const bool delivery = st.stream == billing::kDeliveryStream;
  const int64_t lag = int64_t(delivery ? s.delivery_sync_lag_secs : s.storage_sync_lag_secs) * 1000;
  return std::max<int64_t>(0, now_ms - lag - *st.cursor_ms);
}
}  // namespace

int run_billing(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "status") throw core::ConfigError("usage: rend billing status [--data-dir DIR]");
  auto f = parse_flags({args.begin() + 1, args.end()});
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_api(env, f.data_dir); });
  // Migrated like the other commands: it may be the first to touch a new database.
  auto stores = open_stores(cfg.store, true);
  auto state = store::open_billing_state_store(cfg.store.database_url);
  const int64_t now = core::SystemClock().now_unix_ms();
  auto holder = state->lease_holder(billing::SyncOptions{}.lease_name, now);
  // No secret here: the mode, ids, times and the stored (already redacted) errors.
  std::cout << "mode\t" << billing::mode_name(cfg.billing.mode) << "\n"
            << "lease\t" << holder.value_or("-") << "\n"
            << "STREAM\tCURSOR\tLAG_SECS\tPENDING_WINDOWS\tLAST_ATTEMPT\tRETRIES\tLAST_ERROR\n";
  for (const auto& st : state->list_streams()) {
    std::cout << st.stream << "\t" << ts_or_dash(st.cursor_ms) << "\t" << lag_ms(cfg.billing, st, now) / 1000 << "\t"
              << pending_windows(cfg.billing, st, now) << "\t" << ts_or_dash(st.last_attempt_ms) << "\t" << st.retries
              << "\t" << st.last_error.value_or("-") << "\n";
  }
  std::cout << std::flush;
  return 0;
}

int run_api(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  if (int rc = production_start_gate(CheckRole::api, f.data_dir, "api")) return rc;
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_api(env, f.data_dir); });
  auto stores = open_stores(cfg.store, cfg.api.auto_migrate);
  ApiRole api(cfg, stores);
  auto port = api.start();
  core::log::info("api_listening", {{"port", static_cast<int64_t>(port)}});
  wait_for_shutdown_signal();
  api.stop();
  control::stop_control_dispatch();  // purges in flight finish (bounded by their timeout)
  return 0;
}

int run_worker(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "media") throw core::ConfigError("usage: rend worker media [--data-dir DIR]");
  auto f = parse_flags({args.begin() + 1, args.end()});
  if (int rc = production_start_gate(CheckRole::worker, f.data_dir, "worker media")) return rc;
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_worker(env, f.data_dir); });
  auto stores = open_stores(cfg.store, false);
  WorkerRole w(cfg, *stores.meta, *stores.objects, *stores.coord);
  w.start();
  wait_for_shutdown_signal();
  w.stop();
  control::stop_control_dispatch();  // warms in flight finish (bounded by their timeout)
  return 0;
}

int run_edge(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  if (int rc = production_start_gate(CheckRole::edge, f.data_dir, "edge")) return rc;
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_edge(env, f.data_dir); });
  // An edge host reaches only object storage (its origin), never the database.
  auto origin = store::open_object_store(cfg.store);
  EdgeRole e(cfg, *origin);
  auto port = e.start();
  if (e.internal_port())
    core::log::info("edge_listening", {{"port", static_cast<int64_t>(port)},
                                       {"internal_port", static_cast<int64_t>(e.internal_port())},
                                       {"edge_id", cfg.edge.edge_id}});
  else core::log::info("edge_listening", {{"port", static_cast<int64_t>(port)}, {"edge_id", cfg.edge.edge_id}});
  wait_for_shutdown_signal();
  e.stop();
  return 0;
}

int run_dev(const std::vector<std::string>& args) {
  auto f = parse_flags(args, kDataDir | kEdges);
  auto cfg = parse_for(f, [&](const core::Env& env) { return parse_dev(env, f.data_dir, f.edges); });
  const auto& api_cfg = cfg.api.api;

  auto stores = open_stores(cfg.api.store, true);
  auto key = dev_api_key(*stores.meta, f.data_dir);
  std::vector<std::unique_ptr<EdgeRole>> edges;
  for (const auto& c : cfg.edges) edges.push_back(std::make_unique<EdgeRole>(c, *stores.objects));
  ApiRole api(cfg.api, stores);
  WorkerRole worker(cfg.worker, *stores.meta, *stores.objects, *stores.coord);
  for (auto& e : edges) e->start();
  api.start();
  worker.start();

  std::cout << "\nrend dev is running (data in " << fs::absolute(f.data_dir).lexically_normal().string() << ")\n"
            << "  API:        " << api_cfg.public_base_url << "\n";
  for (const auto& e : cfg.edges) std::cout << "  Edge:       " << e.edge.base_url << "  (" << e.edge.edge_id << ")\n";
  std::cout << "  Watch page: " << api_cfg.public_base_url << "/watch/{asset_id}\n"
            << "  API key:    " << key << "  (also in " << f.data_dir << "/api-key)\n\n"
            << "Upload a video:\n"
            << "  curl -s -X POST -H \"Authorization: Bearer $(cat " << f.data_dir << "/api-key)\" "
            << api_cfg.public_base_url << "/v1/uploads\n"
            << "  curl -s -X PUT -H \"Authorization: Bearer $(cat " << f.data_dir << "/api-key)\" "
            << "--upload-file video.mp4 <upload_url>\n"
            << "Press Ctrl-C to stop.\n"
            << std::endl;
  int sig = wait_for_shutdown_signal();
  core::log::info("shutdown", {{"signal", sig}});
  api.stop();
  worker.stop();
  control::stop_control_dispatch();  // before the edges it calls go away
  for (auto& e : edges) e->stop();
  return 0;
}

// ---- rend readiness (issue 15): the playback readiness gate ----
namespace {
constexpr const char* kReadinessUsage =
    "usage: rend readiness [--target local|configured] [--skip-local-stack] [--strict]";
}  // namespace

int run_readiness(const std::vector<std::string>& args) {
  std::string target = "local";
  bool skip_stack = false, strict = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--skip-local-stack") skip_stack = true;
    else if (a == "--strict") strict = true;
    else if (a == "--target" && i + 1 < args.size()) target = args[++i];
    else if (a.rfind("--target=", 0) == 0) target = a.substr(9);
    else throw core::ConfigError("unknown argument '" + a + "'\n" + kReadinessUsage);
  }
  if (target != "local" && target != "configured") throw core::ConfigError("--target must be local or configured");
  core::PosixProcessRunner runner;
  auto env = core::Env::from_process();
  readiness::parse_common(env);  // a bad threshold or output is reported before the stack is touched
  if (target == "local")
    env = readiness::local_stack_env(env, runner, fs::read_symlink("/proc/self/exe").string(), !skip_stack, std::cout);
  const auto settings = readiness::parse_configured(env);

  auto work = fs::temp_directory_path() / ("rend-readiness-" + std::to_string(::getpid()));
  fs::create_directories(work);
  core::SystemClock clock;
  // Shared with the signal thread, which may outlive this function (it only sets a flag).
  auto run = std::make_shared<readiness::Runner>(
      settings, [](const http::ClientRequest& q) { return http::send(q); }, runner, clock, std::cout, work.string());
  // main blocked SIGINT/SIGTERM for every thread: wait for them here, so Ctrl-C stops
  // the waiting but still lets cleanup delete the synthetic asset; a second one exits.
  std::thread([run] {
    wait_for_shutdown_signal();
    std::cerr << "readiness: interrupted; cleaning up (interrupt again to exit at once)" << std::endl;
    run->cancel();
    wait_for_shutdown_signal();
    std::_Exit(130);
  }).detach();
  auto result = run->run(target);
  std::error_code ec;
  fs::remove_all(work, ec);
  auto file = readiness::write_artifacts(result, settings.outputs, run->known_secrets());

  const auto status = result.status();
  std::cout << "\nreadiness: " << readiness::to_string(status) << " (" << result.checks.size() << " checks, "
            << settings.edges.size() << " edges)\n";
  for (const auto& f : result.failures()) std::cout << "  fail: " << f << "\n";
  for (const auto& w : result.warnings()) std::cout << "  warn: " << w << "\n";
  std::cout << "artifact: " << file << "\nlatest:   " << settings.outputs.latest << std::endl;
  if (status == readiness::Status::fail) return 1;
  return status == readiness::Status::warn && strict ? 2 : 0;
}

}  // namespace rend::roles

// ---- rend env check (issue 14) ----
namespace rend::roles {
namespace {

constexpr const char* kEnvUsage =
    "usage: rend env check --role api|worker|edge|control-plane|edge-host|all [--env-file F]...\n"
    "                      [--api-env F]... [--worker-env F]... [--edge-env F]... [--allow-dev-defaults]\n"
    "Without a file flag it reads .env.production, then .env.production.local, then the process\n"
    "environment (never .env.local). Exit 0: every role passes; 1: problems (one line each).";

struct EnvCheckFlags {
  std::vector<CheckRole> roles;
  std::vector<std::string> common_files;                // --env-file, every role
  std::map<CheckRole, std::vector<std::string>> files;  // --api-env, --worker-env, --edge-env
  bool allow_dev_defaults = false;
  std::string data_dir = ".rend/dev";
};

EnvCheckFlags parse_env_check_flags(const std::vector<std::string>& args) {
  EnvCheckFlags f;
  bool role_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto eq = a.find('=');
    std::string name = a.substr(0, a.rfind("--", 0) == 0 ? eq : std::string::npos);
    if (name == "--allow-dev-defaults" && eq == std::string::npos) {
      f.allow_dev_defaults = true;
      continue;
    }
    static const std::set<std::string> kValued = {"--role",       "--env-file", "--api-env",
                                                  "--worker-env", "--edge-env", "--data-dir"};
    if (!kValued.contains(name)) throw core::ConfigError("unknown argument '" + name + "'\n" + kEnvUsage);
    std::string value;
    if (eq != std::string::npos) value = a.substr(eq + 1);
    else if (i + 1 < args.size()) value = args[++i];
    else throw core::ConfigError(name + " needs a value");
    if (value.empty()) throw core::ConfigError(name + " must not be empty");
    if (name == "--role") {
      static const std::map<std::string, std::vector<CheckRole>> kRoles = {
          {"api", {CheckRole::api}},        {"worker", {CheckRole::worker}},
          {"edge", {CheckRole::edge}},      {"control-plane", {CheckRole::api, CheckRole::worker}},
          {"edge-host", {CheckRole::edge}}, {"all", {CheckRole::api, CheckRole::worker, CheckRole::edge}}};
      auto it = kRoles.find(value);
      if (it == kRoles.end())
        throw core::ConfigError("--role must be api, worker, edge, control-plane, edge-host or all");
      f.roles = it->second;
      role_given = true;
    } else if (name == "--env-file") f.common_files.push_back(value);
    else if (name == "--api-env") f.files[CheckRole::api].push_back(value);
    else if (name == "--worker-env") f.files[CheckRole::worker].push_back(value);
    else if (name == "--edge-env") f.files[CheckRole::edge].push_back(value);
    else f.data_dir = value;
  }
  if (!role_given) throw core::ConfigError(std::string("--role is required\n") + kEnvUsage);
  for (const auto& [role, files] : f.files)
    if (std::ranges::find(f.roles, role) == f.roles.end())
      throw core::ConfigError(std::string("--") + role_name(role) + "-env was given but --role does not check the " +
                              role_name(role));
  return f;
}

}  // namespace

int run_env(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "check") throw core::ConfigError(kEnvUsage);
  auto f = parse_env_check_flags({args.begin() + 1, args.end()});
  // Problems in the order found, each once: two roles reading one file report its bad
  // line once, with both roles.
  std::vector<std::pair<EnvProblem, std::vector<std::string>>> report;
  auto add = [&](const EnvProblem& p, CheckRole role) {
    for (auto& [q, roles] : report)
      if (q.source == p.source && q.var == p.var && q.message == p.message) {
        if (std::ranges::find(roles, role_name(role)) == roles.end()) roles.push_back(role_name(role));
        return;
      }
    report.push_back({p, {role_name(role)}});
  };
  std::map<CheckRole, SourcedEnv> envs;  // what each role read, for the checks across roles
  for (auto role : f.roles) {
    const auto& files = f.files.contains(role) ? f.files[role] : f.common_files;
    SourcedEnv env;
    CheckOptions opts{.allow_dev_defaults = f.allow_dev_defaults, .data_dir = f.data_dir};
    std::string label;
    bool readable = true;
    auto read = [&](const std::string& path) {
      auto r = read_env_file(path, env);
      for (const auto& p : r.problems) add(p, role);
      readable = readable && r.readable;
      label += (label.empty() ? "" : ", ") + path;
    };
    if (!files.empty()) {
      for (const auto& path : files) read(path);
    } else {
      // The production profile: the deploy's files, then what the platform injected.
      for (const char* path : {".env.production", ".env.production.local"})
        if (fs::exists(path)) read(path);
      overlay_process_env(env);
      label += (label.empty() ? "" : ", ") + std::string("environment");
    }
    if (!readable) continue;  // a missing file is its one problem
    opts.sources_label = label;
    for (const auto& p : check_role_env(role, env, opts)) add(p, role);
    envs[role] = std::move(env);
  }
  for (const auto& p : check_across_roles(envs)) {
    // A value already refused on its own (a placeholder, say) is not compared again.
    if (std::ranges::any_of(report, [&](const auto& r) { return r.first.source == p.source && r.first.var == p.var; }))
      continue;
    // Reported against the role that read the differing value.
    CheckRole who = f.roles.back();
    for (const auto& [role, env] : envs)
      if (auto it = env.find(p.var); it != env.end() && it->second.source == p.source) who = role;
    add(p, who);
  }
  std::string checked;
  for (auto role : f.roles) checked += (checked.empty() ? "" : ", ") + std::string(role_name(role));
  for (const auto& [p, roles] : report) {
    std::string who;
    for (const auto& r : roles) who += (who.empty() ? "" : ",") + r;
    std::cout << "FAIL " << format_problem(p) << " [" << who << "]\n";
  }
  if (report.empty()) {
    std::cout << "ok: " << checked << (f.allow_dev_defaults ? " (dev defaults allowed)" : "") << std::endl;
    return 0;
  }
  std::cout << report.size() << (report.size() == 1 ? " problem" : " problems") << " (" << checked << ")" << std::endl;
  return 1;
}

}  // namespace rend::roles
