// API keys managed over the API (issue 16): a key with the `keys` scope creates keys
// of its own account, lists them and revokes them, so a customer rotates keys without
// shell access to the server (`rend keys` is the operator's way).
//
// A new key holds at most the caller's scopes: a `keys` key cannot mint itself an
// operator or a delete grant. Keys are looked up in the metadata store on every
// request (no per-process cache), so a revoke is refused at once by every API process.
#include <algorithm>

#include "api/common.h"
#include "auth/api_keys.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"

namespace rend::api {
namespace {

constexpr size_t kMaxNameBytes = 200;

boost::json::object key_json(const store::ApiKey& k) {
  boost::json::array scopes;
  for (const auto& s : k.scopes) scopes.push_back(boost::json::string(s));
  return {{"id", k.id},
          {"name", k.name},
          {"scopes", std::move(scopes)},
          {"created_at", core::format_rfc3339_ms(k.created_at_ms)},
          {"revoked_at", k.revoked_at_ms ? boost::json::value(core::format_rfc3339_ms(*k.revoked_at_ms))
                                         : boost::json::value(nullptr)}};
}

// The account's key of that id; another account's key looks missing.
std::optional<store::ApiKey> account_key(const ApiDeps& d, const std::string& account_id, const std::string& id) {
  if (!core::is_valid_id(id)) return std::nullopt;
  for (auto& k : d.meta.list_api_keys(account_id))
    if (k.id == id) return std::move(k);
  return std::nullopt;
}

bool printable_name(std::string_view name) {
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

http::Response create_key(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "keys");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& caller = std::get<store::ApiKey>(who);
  auto body = parse_json_object(req.body);
  if (!body) return http::Response::error(400, "invalid_json", "request body must be a JSON object");

  std::string name;
  if (auto* v = body->if_contains("name"); v && !v->is_null()) {
    if (!v->is_string() || v->as_string().size() > kMaxNameBytes || !printable_name(v->as_string()))
      return http::Response::error(400, "invalid_name",
                                   "name must be a string of at most 200 bytes without control characters");
    name = std::string(v->as_string());
  }
  const auto& known = auth::all_scopes();
  auto* sv = body->if_contains("scopes");
  if (!sv || !sv->is_array() || sv->as_array().empty())
    return http::Response::error(400, "invalid_scope", "scopes must be a nonempty array of scope names");
  std::vector<std::string> scopes;
  for (const auto& s : sv->as_array()) {
    // Names only ("all" is the CLI's shorthand): what is granted is spelled out.
    if (!s.is_string() || std::find(known.begin(), known.end(), s.as_string()) == known.end())
      return http::Response::error(400, "invalid_scope",
                                   "scopes must be some of: upload, read, delete, analytics, keys, operator");
    scopes.emplace_back(s.as_string());
  }
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  for (const auto& s : scopes)
    if (std::find(caller.scopes.begin(), caller.scopes.end(), s) == caller.scopes.end())
      return http::Response::error(403, "scope_not_held",
                                   "this API key cannot grant the '" + s + "' scope: it does not hold it");

  auto generated = auth::generate_api_key();
  store::ApiKey key;
  key.id = generated.id;
  key.name = name;
  key.secret_hash = generated.secret_hash;
  key.scopes = scopes;
  key.created_at_ms = d.clock.now_unix_ms();
  key.account_id = caller.account_id;
  d.meta.create_api_key(key);
  core::log::info("api_key_created", {{"key_id", key.id}, {"account_id", key.account_id}, {"created_by", caller.id}});
  auto out = key_json(key);
  out["secret"] = generated.secret;  // shown this once; only its hash is stored
  return json_response(201, out);
}

http::Response list_keys(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "keys");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  boost::json::array data;
  for (const auto& k : d.meta.list_api_keys(std::get<store::ApiKey>(who).account_id)) data.push_back(key_json(k));
  return json_response(200, boost::json::object{{"data", std::move(data)}});
}

http::Response revoke_key(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "keys");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& caller = std::get<store::ApiKey>(who);
  const std::string id = req.params["id"];
  auto key = account_key(d, caller.account_id, id);
  if (!key) return http::Response::error(404, "not_found", "no such API key");
  // Revoking twice is not an error: the key is revoked, as asked, since its first revoke.
  if (d.meta.revoke_api_key(id, d.clock.now_unix_ms()))
    core::log::info("api_key_revoked", {{"key_id", id}, {"account_id", caller.account_id}, {"revoked_by", caller.id}});
  key = account_key(d, caller.account_id, id);
  if (!key) return http::Response::error(404, "not_found", "no such API key");
  return json_response(200, key_json(*key));
}

}  // namespace

void add_key_routes(http::Router& r, const ApiDeps& d) {
  r.add(
      "POST", "/v1/keys", [&d](http::Request& q) { return create_key(d, q); }, key_checked(d, "keys"));
  r.add("GET", "/v1/keys", [&d](http::Request& q) { return list_keys(d, q); });
  r.add("DELETE", "/v1/keys/{id}", [&d](http::Request& q) { return revoke_key(d, q); });
}

}  // namespace rend::api
