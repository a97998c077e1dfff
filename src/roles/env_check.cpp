#include "roles/env_check.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/env.h"
#include "roles/settings.h"

namespace rend::roles {
namespace {

// What shape a value must have. The generic shapes are checked with core::Env's own
// readers (the ones the parsers call), so "a number" means here what it means there.
enum class Kind {
  string,
  enumeration,     // one of `values`
  id,              // [A-Za-z0-9._:-]{1,128} (edge ids, regions, key ids, feature ids)
  url,             // an http(s) base URL without a trailing '/'
  probe_url,       // any http(s) URL (health probes, Autumn's base)
  url_list,        // comma-separated base URLs
  origins,         // comma-separated origins: scheme://host[:port]
  route_urls,      // route_id=base_url,...
  expected_edges,  // edge_id=region=base_url,...
  postgres_url,    // postgres:// or postgresql://
  redis_url,       // redis://
  host_port,       // a bind address
  boolean,
  count,     // a non-negative integer
  seconds,   // a non-negative number of seconds, fractions allowed
  path,      // absolute in production
  command,   // a command name looked up on PATH, or an absolute path
  secret,    // at least `min_len` characters
  dev_only,  // read by `rend dev` only: known, never checked
};

enum : unsigned { A = 1, W = 2, E = 4, AW = A | W, AE = A | E, WE = W | E, ALL = A | W | E, NONE = 0 };
enum : unsigned { kHttps = 1, kSensitive = 2 };

struct Var {
  const char* name;
  unsigned roles;  // the roles that read it
  Kind kind;
  unsigned required;  // the roles that must have it in production
  unsigned flags = 0;
  const char* values = "";      // enumeration: '|'-separated
  const char* dev_values = "";  // '|'-separated checked-in dev defaults
  const char* sample = "";      // a production-valid value (see check_with_parser)
  size_t min_len = 0;
};

// Every variable a role reads (src/*/settings.cpp), the roles that read it and what a
// production file must hold. tests/scripts/test_env_examples.py keeps this table, the
// sources and the .env.*.example files in step.
const Var kVars[] = {
    // mode
    {"REND_ENV", ALL, Kind::enumeration, ALL, 0, "local|production", "local", "production"},
    {"REND_ALLOW_DEV_DEFAULTS", ALL, Kind::boolean, NONE, 0, "", "true|1|yes|on", "false"},
    // stores
    {"DATABASE_URL", ALL, Kind::postgres_url, AW, kSensitive, "", "",
     "postgres://rend:sample@db.example.com:5432/rend"},
    {"REND_OBJECT_STORE_DIR", ALL, Kind::path, NONE},
    {"REND_REDIS_URL", ALL, Kind::redis_url, AW, kSensitive, "", "", "redis://redis.example.com:6379/0"},
    {"S3_ENDPOINT", ALL, Kind::url, ALL, 0, "", "", "https://s3.example.com"},
    {"S3_REGION", ALL, Kind::string, NONE, 0, "", "", "us-east-1"},
    {"S3_BUCKET", ALL, Kind::string, ALL, 0, "", "", "rend"},
    {"S3_FORCE_PATH_STYLE", ALL, Kind::boolean, NONE, 0, "", "", "true"},
    {"AWS_ACCESS_KEY_ID", ALL, Kind::string, ALL, 0, "", "S3RVER|minioadmin", "sample-access-key"},
    {"AWS_SECRET_ACCESS_KEY", ALL, Kind::secret, ALL, kSensitive, "", "S3RVER|minioadmin", "sample-secret-access-key",
     16},
    {"OBJECT_STORE_HEALTH_URL", ALL, Kind::probe_url, NONE, 0, "", "", "https://s3.example.com/health"},
    {"CLICKHOUSE_URL", AW, Kind::url, A, 0, "", "", "https://clickhouse.example.com:8443"},
    {"CLICKHOUSE_DATABASE", AW, Kind::id, NONE, 0, "", "", "rend"},
    {"CLICKHOUSE_USER", AW, Kind::string, A, 0, "", "", "rend"},
    {"CLICKHOUSE_PASSWORD", AW, Kind::secret, A, kSensitive, "", "", "sample-clickhouse-password", 16},
    // shared credentials
    {"REND_PLAYBACK_SIGNING_KEY_ID", ALL, Kind::id, ALL, 0, "", "dev|local", "k1"},
    {"REND_PLAYBACK_SIGNING_SECRET", ALL, Kind::secret, ALL, kSensitive, "", "",
     "sample-playback-signing-secret-0000000000", 32},
    {"REND_EDGE_INTERNAL_TOKEN", ALL, Kind::secret, ALL, kSensitive, "", "",
     "sample-edge-internal-token-00000000000000", 32},
    {"REND_INTERNAL_TELEMETRY_TOKEN", AE, Kind::secret, AE, kSensitive, "", "",
     "sample-telemetry-token-000000000000000000", 32},
    {"REND_HTTP_MAX_CONNECTIONS", ALL, Kind::count},
    {"REND_HTTP_MIN_BODY_BYTES_PER_SEC", ALL, Kind::count},
    // API
    {"REND_API_BIND_ADDR", A, Kind::host_port, A, 0, "", "", "0.0.0.0:4000"},
    {"REND_API_PUBLIC_BASE_URL", A, Kind::url, A, kHttps, "", "", "https://api.example.com"},
    {"REND_PLAYBACK_BASE_URL", A, Kind::url, A, kHttps, "", "", "https://edge.example.com"},
    {"REND_API_CORS_ALLOWED_ORIGINS", A, Kind::origins, NONE, kHttps},
    {"REND_MAX_UPLOAD_BYTES", A, Kind::count},
    {"REND_WEBHOOK_RETRY_BASE_MS", A, Kind::count},
    {"REND_READINESS_ARTIFACT_PATH", A, Kind::path},
    {"REND_IMPORT_TIMEOUT_SECS", W, Kind::count},
    {"REND_UPLOAD_EXPIRY_SECS", A, Kind::count},
    {"REND_TUSJS_PATH", A, Kind::path},
    {"REND_PLAYBACK_PREVIOUS_SIGNING_KEYS", ALL, Kind::string, NONE, kSensitive, "", "",
     "k0=sample-previous-signing-secret-000000000000"},
    {"REND_PLAYBACK_TOKEN_TTL_SECS", A, Kind::count},
    {"REND_PLAYBACK_COOKIE_DOMAIN", A, Kind::string},
    {"REND_API_AUTO_MIGRATE", A, Kind::boolean},
    {"REND_EDGE_PURGE_URL", A, Kind::url_list},
    {"REND_WEB_DIR", A, Kind::path},
    {"REND_HLSJS_PATH", A, Kind::path},
    {"REND_API_RATE_LIMIT_PER_MINUTE", A, Kind::count},
    {"REND_EXPECTED_EDGES", A, Kind::expected_edges, A, kHttps, "", "", "edge-1=region-1=https://edge-1.example.com"},
    {"REND_ALLOW_PRIVATE_OUTBOUND_URLS", AW, Kind::boolean, NONE, 0, "", "true|1|yes|on", "false"},
    {"REND_ALLOW_INSECURE_EDGE_URLS", A, Kind::boolean, NONE, 0, "", "true|1|yes|on", "false"},
    {"REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS", AW, Kind::count},
    {"REND_EDGE_REGISTRY_MAX_EDGES", A, Kind::count},
    {"REND_TELEMETRY_MAX_BATCH_BYTES", A, Kind::count},
    {"REND_PLAYER_ROUTES_FILE", A, Kind::path},
    {"REND_PLAYER_EDGE_BASE_URLS", A, Kind::route_urls, NONE, kHttps},
    {"REND_PLAYER_EDGE_BASE_URLS_MODE", A, Kind::enumeration, NONE, 0, "override|fallback"},
    {"REND_PLAYER_PLAYBACK_BASE_URL", A, Kind::url, NONE, kHttps, "", "", "https://edge.example.com"},
    {"REND_PLAYER_GEO_HEADERS", A, Kind::enumeration, NONE, 0, "vercel|cloudflare"},
    // media worker
    {"REND_MEDIA_WORKER_ID", W, Kind::id},
    {"REND_MEDIA_WORKER_POLL_INTERVAL_SECS", W, Kind::count},
    {"REND_MEDIA_JOB_LOCK_TIMEOUT_SECS", W, Kind::count},
    {"REND_MEDIA_PROCESS_TIMEOUT_SECS", W, Kind::count},
    {"REND_MEDIA_MAX_DURATION_SECS", W, Kind::count},
    {"REND_MEDIA_MAX_PIXELS", W, Kind::count},
    {"REND_MEDIA_MAX_FPS", W, Kind::count},
    {"REND_FFMPEG_PATH", WE, Kind::command},
    {"REND_FFPROBE_PATH", W, Kind::command},
    {"REND_MEDIA_WORK_DIR", W, Kind::path},
    {"REND_EDGE_WARM_URL", W, Kind::url_list},
    // edge
    {"REND_EDGE_BIND_ADDR", E, Kind::host_port, E, 0, "", "", "0.0.0.0:4100"},
    {"REND_EDGE_ID", E, Kind::id, E, 0, "", "edge-local", "edge-1"},
    {"REND_EDGE_REGION", E, Kind::id, E, 0, "", "local", "region-1"},
    {"REND_EDGE_BASE_URL", E, Kind::url, E, kHttps, "", "", "https://edge-1.example.com"},
    {"REND_EDGE_CORS_ALLOWED_ORIGINS", E, Kind::origins, NONE, kHttps},
    {"REND_EDGE_CACHE_DIR", E, Kind::path, E, 0, "", "", "/var/cache/rend/edge"},
    {"REND_EDGE_PLAYLIST_TTL_SECS", E, Kind::count},
    {"REND_EDGE_NEGATIVE_CACHE_SECS", E, Kind::count},
    {"REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES", E, Kind::count},
    {"REND_CONTROL_PLANE_URL", E, Kind::url, E, 0, "", "", "https://api.example.com"},
    {"REND_EDGE_HEARTBEAT_INTERVAL_SECS", E, Kind::count},
    {"REND_EDGE_INTERNAL_BIND_ADDR", E, Kind::host_port, E, 0, "", "", "10.0.0.1:4101"},
    {"REND_EDGE_MAX_IN_FLIGHT_FILLS", E, Kind::count},
    {"REND_EDGE_FILL_QUEUE_WAIT_MS", E, Kind::count},
    {"REND_EDGE_CACHE_MAX_BYTES", E, Kind::count},
    {"REND_EDGE_CACHE_MIN_FREE_BYTES", E, Kind::count},
    {"REND_EDGE_WARM_MAX_ARTIFACTS", E, Kind::count},
    {"REND_EDGE_ORIGIN_HEALTH_URL", E, Kind::probe_url, NONE, 0, "", "", "https://s3.example.com/health"},
    {"REND_EDGE_TELEMETRY_ENABLED", E, Kind::boolean},
    {"REND_EDGE_TELEMETRY_INGEST_URL", E, Kind::url, NONE, 0, "", "", "https://api.example.com/internal/telemetry"},
    {"REND_EDGE_TELEMETRY_QUEUE_CAPACITY", E, Kind::count},
    {"REND_EDGE_TELEMETRY_BATCH_SIZE", E, Kind::count},
    {"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", E, Kind::seconds},
    {"REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS", E, Kind::seconds},
    {"REND_EDGE_TELEMETRY_SPOOL_DIR", E, Kind::path, E, 0, "", "", "/var/lib/rend/telemetry-spool"},
    {"REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES", E, Kind::count},
    // billing (API and worker)
    {"REND_BILLING_MODE", AW, Kind::enumeration, AW, 0, "local|autumn", "local", "autumn"},
    {"AUTUMN_SECRET_KEY", AW, Kind::secret, AW, kSensitive, "", "", "am_sk_live_sample0000000000"},
    {"AUTUMN_API_URL", AW, Kind::probe_url, NONE, kHttps, "", "", "https://api.useautumn.com"},
    {"AUTUMN_API_VERSION", AW, Kind::string, NONE, 0, "", "", "2.0.0"},
    {"REND_BILLING_FEATURE_DELIVERY_720P", AW, Kind::id},
    {"REND_BILLING_FEATURE_DELIVERY_1080P", AW, Kind::id},
    {"REND_BILLING_FEATURE_DELIVERY_2K", AW, Kind::id},
    {"REND_BILLING_FEATURE_DELIVERY_4K", AW, Kind::id},
    {"REND_BILLING_FEATURE_STORAGE_720P", AW, Kind::id},
    {"REND_BILLING_FEATURE_STORAGE_1080P", AW, Kind::id},
    {"REND_BILLING_FEATURE_STORAGE_2K", AW, Kind::id},
    {"REND_BILLING_FEATURE_STORAGE_4K", AW, Kind::id},
    {"REND_BILLING_ENTITLEMENT_FAILURE_POLICY", AW, Kind::enumeration, NONE, 0, "allow|deny"},
    {"REND_BILLING_ENTITLEMENT_CACHE_SECS", AW, Kind::count},
    {"REND_BILLING_DELIVERY_SYNC_LAG_SECS", AW, Kind::count},
    {"REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS", AW, Kind::count},
    {"REND_BILLING_STORAGE_SYNC_LAG_SECS", AW, Kind::count},
    {"REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS", AW, Kind::count},
    // `rend dev` only
    {"REND_DEV_EDGE_US_EAST_BIND_ADDR", NONE, Kind::dev_only},
    {"REND_DEV_EDGE_LONDON_BIND_ADDR", NONE, Kind::dev_only},
};

const Var* find_var(const std::string& name) {
  for (const auto& v : kVars)
    if (name == v.name) return &v;
  return nullptr;
}

unsigned bit(CheckRole r) { return r == CheckRole::api ? A : r == CheckRole::worker ? W : E; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool in_bar_list(const std::string& value, const char* list) {
  std::string item;
  std::istringstream in(list);
  while (std::getline(in, item, '|'))
    if (!item.empty() && lower(value) == lower(item)) return true;
  return false;
}

std::vector<std::string> split_list(const std::string& value) {
  std::map<std::string, std::string> vars{{"V", value}};
  const core::Env env(std::move(vars));
  return env.get_list("V");
}

bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// The example files mark their local-only values with this prefix (.env.*.example).
constexpr const char* kDevMarker = "change-me-local";

// A value somebody meant to replace. `why` is the pattern, never the value.
bool is_placeholder(const std::string& value, std::string& why) {
  const auto l = lower(value);
  if (auto lt = value.find('<'); lt != std::string::npos && value.find('>', lt) != std::string::npos) {
    why = "<…>";
    return true;
  }
  for (const char* p : {"TODO", "FIXME"})
    if (value.find(p) != std::string::npos) {
      why = p;
      return true;
    }
  for (const char* p : {"changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me"}) {
    auto at = l.find(p);
    if (at != std::string::npos && l.compare(at, std::strlen(kDevMarker), kDevMarker) != 0) {
      why = "changeme";
      return true;
    }
  }
  // A word of three or more x's ("xxx", "am_sk_live_xxxx"); a random secret with
  // "xxx" inside a longer run of letters and digits is not one.
  for (size_t i = 0; i < l.size();) {
    if (l[i] != 'x') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < l.size() && l[j] == 'x') ++j;
    bool word = (i == 0 || !alnum(l[i - 1])) && (j == l.size() || !alnum(l[j]));
    if (j - i >= 3 && word) {
      why = "xxx";
      return true;
    }
    i = j;
  }
  return false;
}

bool is_local_host(std::string host) {
  host = lower(host);
  static const std::set<std::string> kLocal = {"localhost", "127.0.0.1",  "::1",       "0.0.0.0",
                                               "minio",     "rend-api",   "rend-edge", "postgres",
                                               "redis",     "clickhouse", "s3rver",    "rend-media-worker"};
  return kLocal.contains(host) || host.starts_with("127.") || host.ends_with(".localhost") ||
         host.starts_with("rend-edge-");
}

// The host of scheme://[user[:pass]@]host[:port][/...]; empty when there is none.
std::string url_host(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return "";
  start += 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    return close == std::string::npos ? authority.substr(1) : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool id_shaped(const std::string& v) {
  if (v.empty() || v.size() > 128) return false;
  return std::ranges::all_of(v, [](char c) { return alnum(c) || c == '.' || c == '_' || c == ':' || c == '-'; });
}

// The checks of one present value. Messages never carry the value.
class ValueChecker {
 public:
  ValueChecker(bool production, bool allow_dev) : production_(production), allow_dev_(allow_dev) {}

  // Problems of `value` of `v` (empty: none).
  std::vector<std::string> check(const Var& v, const std::string& value) {
    out_.clear();
    std::string why;
    if (is_placeholder(value, why)) {
      out_.push_back("is a placeholder (" + why + "), not a real value");
      return out_;
    }
    if (value.find(kDevMarker) != std::string::npos || in_bar_list(value, v.dev_values)) {
      if (!allow_dev_) out_.push_back("is a checked-in dev default (allowed only with --allow-dev-defaults)");
      if (v.kind == Kind::secret) return out_;  // a known value: its length says nothing more
    }
    shape(v, value);
    return out_;
  }

 private:
  void fail(std::string m) { out_.push_back(std::move(m)); }

  template <class F>
  void core_check(F f) {
    try {
      f();
    } catch (const core::ConfigError& e) {
      // core's messages name the variable first; keep the rest, and drop an echoed
      // value (", got '...'" / " in '...'") in case the variable is a secret.
      std::string m = e.what();
      auto space = m.find(' ');
      m = space == std::string::npos ? m : m.substr(space + 1);
      for (const char* cut : {", got '", " in '", " got '"})
        if (auto at = m.find(cut); at != std::string::npos) m = m.substr(0, at);
      fail(m);
    }
  }

  void host_rule(const std::string& url, bool https) {
    auto host = url_host(url);
    if (is_local_host(host) && !allow_dev_)
      fail("points at a local service host (" + host + "); allowed only with --allow-dev-defaults");
    if (https && production_ && !url.starts_with("https://")) fail("must be an https:// URL in production");
  }

  void base_url(const Var& v, const std::string& url) {
    size_t before = out_.size();
    core_check([&] { core::check_base_url(url, v.name); });
    if (out_.size() == before) host_rule(url, v.flags & kHttps);
  }

  void shape(const Var& v, const std::string& value) {
    std::map<std::string, std::string> vars{{v.name, value}};
    const core::Env one(std::move(vars));
    switch (v.kind) {
      case Kind::string:
      case Kind::dev_only: break;
      case Kind::enumeration:
        if (!in_bar_list(value, v.values)) {
          std::string list = v.values;
          std::replace(list.begin(), list.end(), '|', ',');
          fail("must be one of " + list);
        }
        break;
      case Kind::id:
        if (!id_shaped(value)) fail("must be 1-128 characters of [A-Za-z0-9._:-]");
        break;
      case Kind::url: base_url(v, value); break;
      case Kind::probe_url:
        if ((!value.starts_with("http://") && !value.starts_with("https://")) || url_host(value).empty())
          fail("must be an http:// or https:// URL");
        else host_rule(value, v.flags & kHttps);
        break;
      case Kind::url_list:
        for (const auto& u : split_list(value)) base_url(v, u);
        break;
      case Kind::origins:
        for (const auto& o : split_list(value)) {
          auto host = url_host(o);
          auto scheme_end = o.find("://");
          bool ok = (o.starts_with("http://") || o.starts_with("https://")) && !host.empty() &&
                    o.find('/', scheme_end + 3) == std::string::npos;
          if (!ok) fail("entries must be origins (https://host[:port], no path)");
          else host_rule(o, v.flags & kHttps);
        }
        break;
      case Kind::route_urls:
        for (const auto& entry : split_list(value)) {
          auto eq = entry.find('=');
          if (eq == std::string::npos || eq == 0) fail("entries must be route_id=base_url");
          else base_url(v, entry.substr(eq + 1));
        }
        break;
      case Kind::expected_edges: expected_edges(v, value); break;
      case Kind::postgres_url:
        if (!value.starts_with("postgres://") && !value.starts_with("postgresql://"))
          fail(production_ ? "must be a postgres:// URL in production" : "must be a postgres:// URL");
        else host_rule(value, false);
        break;
      case Kind::redis_url:
        if (!value.starts_with("redis://")) fail("must be a redis:// URL");
        else host_rule(value, false);
        break;
      case Kind::host_port: core_check([&] { core::parse_host_port(value, v.name); }); break;
      case Kind::boolean: core_check([&] { one.get_bool(v.name, false); }); break;
      case Kind::count: core_check([&] { one.get_u64(v.name, 0); }); break;
      case Kind::seconds: core_check([&] { one.get_millis(v.name, 0); }); break;
      case Kind::path:
        if (value.find_first_of("\r\n") != std::string::npos) fail("must be a path on one line");
        else if (production_ && !value.starts_with("/")) fail("must be an absolute path in production");
        break;
      case Kind::command:
        if (value.find('/') != std::string::npos && !value.starts_with("/"))
          fail("must be a command name on PATH or an absolute path");
        break;
      case Kind::secret:
        if (value.size() < v.min_len) fail("must be at least " + std::to_string(v.min_len) + " characters long");
        break;
    }
  }

  void expected_edges(const Var& v, const std::string& value) {
    std::set<std::string> ids, urls;
    for (const auto& entry : split_list(value)) {
      auto a = entry.find('='), b = a == std::string::npos ? a : entry.find('=', a + 1);
      if (a == std::string::npos || b == std::string::npos) {
        fail("entries must be edge_id=region=base_url");
        continue;
      }
      auto id = entry.substr(0, a), region = entry.substr(a + 1, b - a - 1), url = entry.substr(b + 1);
      if (!id_shaped(id) || !id_shaped(region))
        fail("entries must be edge_id=region=base_url with ids of [A-Za-z0-9._:-]");
      if (!ids.insert(id).second) fail("lists edge '" + id + "' more than once");
      if (!urls.insert(url).second) fail("lists one base URL for two edges");
      base_url(v, url);
    }
  }

  bool production_, allow_dev_;
  std::vector<std::string> out_;
};

bool sensitive(const std::string& name, const Var* v) {
  if (v && (v->flags & kSensitive)) return true;
  for (const char* p : {"SECRET", "TOKEN", "PASSWORD"})
    if (name.find(p) != std::string::npos) return true;
  return false;
}

// The known variable names `message` mentions, in order of appearance.
std::vector<std::string> names_in(const std::string& message) {
  std::vector<std::pair<size_t, std::string>> found;
  auto name_char = [](char c) { return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(c) || c == '_'; };
  for (const auto& v : kVars) {
    const std::string n = v.name;
    for (size_t at = message.find(n); at != std::string::npos; at = message.find(n, at + 1)) {
      bool bounded = (at == 0 || !name_char(message[at - 1])) &&
                     (at + n.size() == message.size() || !name_char(message[at + n.size()]));
      if (bounded) {
        found.emplace_back(at, n);
        break;
      }
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [at, n] : found) out.push_back(std::move(n));
  return out;
}

std::string redact(std::string message, const SourcedEnv& env) {
  for (const auto& [name, sv] : env) {
    if (sv.value.size() < 4 || !sensitive(name, find_var(name))) continue;
    for (size_t at = message.find(sv.value); at != std::string::npos; at = message.find(sv.value, at))
      message.replace(at, sv.value.size(), "<redacted>");
  }
  return message;
}

void parse_as(CheckRole role, const core::Env& env, const std::string& data_dir) {
  switch (role) {
    case CheckRole::api: parse_api(env, data_dir); break;
    case CheckRole::worker: parse_worker(env, data_dir); break;
    case CheckRole::edge: parse_edge(env, data_dir); break;
  }
}

// Runs the role's own parser. It stops at its first error, so each error's variables
// are set to a valid sample (or unset) and it runs again, until it accepts the
// settings or names only variables already set aside. Variables that already failed
// the per-value checks are set aside before the first run, so each problem is
// reported once, by the rule that states it best.
void check_with_parser(CheckRole role, const SourcedEnv& env, bool production, const std::set<std::string>& reported,
                       const CheckOptions& opts, std::vector<EnvProblem>& out) {
  std::map<std::string, std::string> values;
  for (const auto& [name, sv] : env) values[name] = sv.value;
  core::Env e(std::move(values));
  if (production) e.set("REND_ENV", "production");
  std::set<std::string> aside;
  auto set_aside = [&](const std::string& name) {
    const Var* v = find_var(name);
    e.set(name, v ? v->sample : "");
    aside.insert(name);
  };
  for (const auto& name : reported) set_aside(name);
  // The mode the check applies, even when REND_ENV itself was malformed.
  e.set("REND_ENV", production ? "production" : "local");
  for (int round = 0; round < 64; ++round) {
    std::string message;
    try {
      parse_as(role, e, opts.data_dir);
      return;
    } catch (const core::ConfigError& err) {
      message = redact(err.what(), env);
    } catch (const std::exception& err) {
      message = redact(err.what(), env);
    }
    auto names = names_in(message);
    if (names.size() > 1) std::erase(names, std::string("REND_ENV"));
    if (names.empty() || std::ranges::all_of(names, [&](const auto& n) { return aside.contains(n); })) {
      // Nothing left to set aside: report it unless it is about a variable already reported.
      if (names.empty() || !reported.contains(names.front()))
        out.push_back({opts.sources_label, names.empty() ? "" : names.front(), message, true});
      return;
    }
    const auto& first = names.front();
    if (!reported.contains(first)) {
      auto it = env.find(first);
      // "VAR must ..." is printed after "VAR: " already.
      auto text = message.starts_with(first + " ") ? message.substr(first.size() + 1) : message;
      out.push_back({it == env.end() ? opts.sources_label : it->second.source, first, text, true});
    }
    for (const auto& n : names) set_aside(n);
  }
}

}  // namespace

const char* role_name(CheckRole r) { return r == CheckRole::api ? "api" : r == CheckRole::worker ? "worker" : "edge"; }

std::vector<EnvProblem> parse_env_text(const std::string& text, const std::string& source, SourcedEnv& into) {
  std::vector<EnvProblem> problems;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line.starts_with("export ")) {
      auto rest = line.find_first_not_of(" \t", 7);
      line = rest == std::string::npos ? "" : line.substr(rest);
    }
    auto eq = line.find('=');
    std::string key = eq == std::string::npos ? "" : line.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    bool key_ok = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0])) &&
                  std::ranges::all_of(key, [](char c) { return alnum(c) || c == '_'; });
    if (!key_ok) {
      problems.push_back({source, "", "line " + std::to_string(number) + " is not KEY=value"});
      continue;
    }
    std::string value = line.substr(eq + 1);
    auto vb = value.find_first_not_of(" \t");
    value = vb == std::string::npos ? "" : value.substr(vb);
    if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      auto close = value.find(value[0], 1);
      auto rest = close == std::string::npos ? std::string("x") : value.substr(close + 1);
      auto rb = rest.find_first_not_of(" \t");
      if (close == std::string::npos || (rb != std::string::npos && rest[rb] != '#')) {
        problems.push_back({source, key, "line " + std::to_string(number) + " has an unterminated or trailing quote"});
        continue;
      }
      value = value.substr(1, close - 1);
    } else {
      for (size_t i = 1; i < value.size(); ++i)
        if (value[i] == '#' && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
          value.resize(i);
          break;
        }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    }
    into[key] = {value, source};
  }
  return problems;
}

EnvFileResult read_env_file(const std::string& path, SourcedEnv& into) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) return {false, {{path, "", "cannot be read"}}};
  std::stringstream text;
  text << in.rdbuf();
  return {true, parse_env_text(text.str(), path, into)};
}

void overlay_process_env(SourcedEnv& into) {
  const auto process = core::Env::from_process();  // named: the loop must not outlive it
  for (const auto& [name, value] : process.vars()) into[name] = {value, "environment"};
}

std::vector<std::string> known_env_names() {
  std::vector<std::string> out;
  for (const auto& v : kVars) out.push_back(v.name);
  return out;
}

std::vector<EnvProblem> check_role_env(CheckRole role, const SourcedEnv& env, const CheckOptions& opts) {
  std::vector<EnvProblem> out;
  std::set<std::string> reported;
  auto get = [&](const char* name) -> const SourcedValue* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : &it->second;
  };
  const auto* mode = get("REND_ENV");
  // A file that says local is checked as local only when dev defaults are allowed (the
  // example files' dry run); otherwise it is checked as the production file it must be.
  const bool production = (mode && mode->value == "production") || !opts.allow_dev_defaults;
  ValueChecker checker(production, opts.allow_dev_defaults);
  const unsigned me = bit(role);

  for (const auto& v : kVars) {
    if (!(v.roles & me)) continue;
    const auto* sv = get(v.name);
    if (!sv || sv->value.empty()) {
      if (production && (v.required & me)) {
        // Role-neutral wording: `rend env check` merges one file's lines across roles.
        out.push_back({sv ? sv->source : opts.sources_label, v.name,
                       std::string(sv ? "is empty" : "is not set") + "; required in production"});
        reported.insert(v.name);
      }
      continue;
    }
    for (auto& m : checker.check(v, sv->value)) {
      out.push_back({sv->source, v.name, std::move(m)});
      reported.insert(v.name);
    }
  }
  if (opts.flag_unknown)
    for (const auto& [name, sv] : env)
      if (name.starts_with("REND_") && !find_var(name) && sv.source != "environment")
        out.push_back({sv.source, name, "is not a Rend setting (misspelt?)"});

  check_with_parser(role, env, production, reported, opts, out);
  return out;
}

std::vector<EnvProblem> check_across_roles(const std::map<CheckRole, SourcedEnv>& envs) {
  std::vector<EnvProblem> out;
  auto value = [](const SourcedEnv& env, const char* name) -> const SourcedValue* {
    auto it = env.find(name);
    return it == env.end() || it->second.value.empty() ? nullptr : &it->second;
  };
  // Shared credentials: compared with the first role that has one, reported on the other.
  for (const char* name : {"REND_PLAYBACK_SIGNING_KEY_ID", "REND_PLAYBACK_SIGNING_SECRET", "REND_EDGE_INTERNAL_TOKEN",
                           "REND_INTERNAL_TELEMETRY_TOKEN"}) {
    const Var* v = find_var(name);
    std::optional<std::pair<CheckRole, const SourcedValue*>> first;
    for (const auto& [role, env] : envs) {
      const auto* sv = value(env, name);
      if (!sv || !(v->roles & bit(role))) continue;
      if (!first) first.emplace(role, sv);
      else if (sv->value != first->second->value)
        out.push_back({sv->source, name,
                       std::string("differs from the ") + role_name(first->first) + "'s (" + first->second->source +
                           "); every role needs the same value"});
    }
  }
  // The edge against the API's pinned registry.
  // The API's list when the API is checked too, else the one an edge file may carry
  // (the seed lists REND_EXPECTED_EDGES among the edge's variables).
  auto api = envs.find(CheckRole::api), edge = envs.find(CheckRole::edge);
  if (edge == envs.end()) return out;
  const auto* list = value(api == envs.end() ? edge->second : api->second, "REND_EXPECTED_EDGES");
  const auto* id = value(edge->second, "REND_EDGE_ID");
  if (!list || !id) return out;
  for (const auto& entry : split_list(list->value)) {
    auto a = entry.find('='), b = a == std::string::npos ? a : entry.find('=', a + 1);
    if (b == std::string::npos || entry.substr(0, a) != id->value) continue;
    const std::pair<const char*, std::string> listed[] = {{"REND_EDGE_REGION", entry.substr(a + 1, b - a - 1)},
                                                          {"REND_EDGE_BASE_URL", entry.substr(b + 1)}};
    for (const auto& [name, want] : listed) {
      const auto* got = value(edge->second, name);
      if (got && got->value != want)
        out.push_back(
            {got->source, name, "differs from edge '" + id->value + "' in REND_EXPECTED_EDGES (" + list->source + ")"});
    }
    return out;
  }
  out.push_back(
      {id->source, "REND_EDGE_ID", "'" + id->value + "' is not listed in REND_EXPECTED_EDGES (" + list->source + ")"});
  return out;
}

std::string format_problem(const EnvProblem& p) {
  return p.source + ": " + (p.var.empty() ? "" : p.var + ": ") + p.message;
}

int production_start_gate(CheckRole role, const std::string& data_dir, const char* command) {
  auto process = core::Env::from_process();
  if (process.get_or("REND_ENV", "local") != "production") return 0;
  bool allow = false;
  try {
    allow = process.get_bool("REND_ALLOW_DEV_DEFAULTS", false);
  } catch (const core::ConfigError&) {
    // Reported by the check below as a malformed boolean.
  }
  SourcedEnv env;
  overlay_process_env(env);
  CheckOptions opts{.allow_dev_defaults = allow,
                    .data_dir = data_dir,
                    .sources_label = "environment",
                    .flag_unknown = false};
  auto problems = check_role_env(role, env, opts);
  if (problems.empty()) return 0;
  std::cerr << "rend " << command << ": the production env check failed (" << problems.size()
            << (problems.size() == 1 ? " problem" : " problems") << "; `rend env check` shows the same):\n";
  for (const auto& p : problems) std::cerr << "  " << format_problem(p) << "\n";
  std::cerr << std::flush;
  return 2;  // a configuration error, as every role start reports one
}

}  // namespace rend::roles
