#pragma once
// Role wiring: builds each role's stores and servers from its config. No business
// logic lives here. API, worker and edge talk over loopback HTTP even inside
// `rend dev`, exactly as in production (SPEC §1).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/env.h"
#include "core/process.h"
#include "roles/settings.h"
#include "store/analytics.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"

namespace rend::http {
class Server;
}
namespace rend::edge {
class DiskCache;
}

namespace rend::roles {

struct Stores {
  std::unique_ptr<store::MetadataStore> meta;
  std::unique_ptr<store::ObjectStore> objects;
  std::unique_ptr<store::Coordinator> coord;
  std::unique_ptr<store::AnalyticsStore> analytics;
};
// Opens the backends the config selects (SPEC §3). With `migrate`, applies the
// database migrations and the analytics schema (both idempotent).
Stores open_stores(const store::Settings& cfg, bool migrate);

// Local mode only: missing secrets are taken from {data_dir}/secrets.env, or
// generated and written there (0600), so separately started roles share them.
// Production never reads or writes that file: secrets must come from the env.
void load_local_secrets(core::Env& env, const std::string& data_dir);
// The same without touching the disk: stored secrets are read if the file exists,
// missing ones are filled with fresh random values. For parsing every setting
// before load_local_secrets() creates the data dir.
void preview_local_secrets(core::Env& env, const std::string& data_dir);

class ApiRole {
 public:
  ApiRole(ApiConfig cfg, Stores& stores);
  ~ApiRole();
  uint16_t start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class EdgeRole {
 public:
  EdgeRole(EdgeConfig cfg, store::ObjectStore& origin);
  ~EdgeRole();
  uint16_t start();                // returns the public port
  uint16_t internal_port() const;  // 0 unless REND_EDGE_INTERNAL_BIND_ADDR is set
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class WorkerRole {
 public:
  WorkerRole(const WorkerConfig& cfg, store::MetadataStore& meta, store::ObjectStore& objects,
             store::Coordinator& coord);
  ~WorkerRole();
  void start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Subcommands. argv excludes the program and subcommand names.
int run_api(const std::vector<std::string>& args);
int run_worker(const std::vector<std::string>& args);
int run_edge(const std::vector<std::string>& args);
int run_dev(const std::vector<std::string>& args);
int run_migrate(const std::vector<std::string>& args);
int run_keys(const std::vector<std::string>& args);
int run_accounts(const std::vector<std::string>& args);
int run_clickhouse_init(const std::vector<std::string>& args);
int run_billing(const std::vector<std::string>& args);
int run_readiness(const std::vector<std::string>& args);  // rend readiness (issue 15)

// Blocks SIGINT/SIGTERM in every thread (call first in main) and later waits for one.
void block_shutdown_signals();
int wait_for_shutdown_signal();

}  // namespace rend::roles
