#pragma once
// One function per role that parses every setting the role uses, from one Env
// snapshot, with no side effect (nothing opened, created or bound). The role
// commands call these before they touch anything, and `rend env check --role X`
// (issue 14) calls exactly these.
#include <string>
#include <vector>

#include "api/settings.h"
#include "billing/settings.h"
#include "core/config.h"
#include "core/env.h"
#include "edge/settings.h"
#include "http/outbound.h"
#include "http/settings.h"
#include "readiness/settings.h"
#include "routing/settings.h"
#include "store/settings.h"
#include "telemetry/settings.h"
#include "webhooks/settings.h"
#include "worker/settings.h"

namespace rend::roles {

// What `rend migrate`, `rend keys` and `rend clickhouse-init` use.
struct StoreConfig {
  core::Deployment deployment;
  store::Settings store;
  http::Settings http;
  auth::Settings auth;
};
StoreConfig parse_store_commands(const core::Env& env, const std::string& data_dir);

struct ApiConfig {
  store::Settings store;
  http::Settings http;
  api::Settings api;
  routing::Settings routing;
  billing::Settings billing;
  http::OutboundPolicy outbound;  // customer URLs: webhook receivers
  webhooks::Settings webhooks;
  readiness::PageSettings readiness;  // the operator page of `rend readiness` (issue 15)
};
ApiConfig parse_api(const core::Env& env, const std::string& data_dir);

struct WorkerConfig {
  store::Settings store;
  worker::Settings worker;
  billing::Settings billing;  // the ladder cap asks the storage features (issue 12)
};
WorkerConfig parse_worker(const core::Env& env, const std::string& data_dir);

struct EdgeConfig {
  store::Settings store;  // the origin: object storage only
  http::Settings http;
  edge::Settings edge;
  telemetry::SenderSettings telemetry;
};
EdgeConfig parse_edge(const core::Env& env, const std::string& data_dir);

// `rend dev --edges N`: the API, the worker and N edges in one process. The dev
// defaults (loopback URLs between the roles, one cache and spool per edge) are
// applied to a copy of `env` first.
struct DevEdge {
  const char* id;
  const char* region;
  const char* bind_var;  // the variable that moves it
  const char* default_bind;
  const char* route_id;  // the player route it stands in for locally
};
// The edges `rend dev` runs: the default one, then the two regional ones of the
// seed's two-edge topology (config/topology.json lists the same ports).
inline constexpr DevEdge kDevEdges[] = {
    {"edge-local", "local", "REND_EDGE_BIND_ADDR", "127.0.0.1:4100", nullptr},
    {"edge-us-east", "us-east", "REND_DEV_EDGE_US_EAST_BIND_ADDR", "127.0.0.1:4101", "ash-1"},
    {"edge-london", "london", "REND_DEV_EDGE_LONDON_BIND_ADDR", "127.0.0.1:4102", "ams-1"},
};
struct DevConfig {
  ApiConfig api;
  WorkerConfig worker;
  std::vector<EdgeConfig> edges;
};
DevConfig parse_dev(core::Env env, const std::string& data_dir, int edges);

}  // namespace rend::roles
