// Upload ingest (SPEC §4): POST /v1/uploads creates the asset and an upload slot;
// PUT {upload_url} streams the bytes into the object store. The body never sits
// whole in memory, REND_MAX_UPLOAD_BYTES is enforced while streaming, and an upload
// that is refused or interrupted leaves nothing stored (the object writer is only
// committed after the last byte).
#include <chrono>
#include <vector>

#include "api/asset_text.h"
#include "api/common.h"
#include "api/upload_access.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "uploads/direct.h"
#include "uploads/tus.h"

namespace rend::api {

std::variant<UploadAccess, http::Response> upload_access(const ApiDeps& d, const http::Request& req,
                                                         const std::string& upload_id) {
  auto token = req.query_param("token");
  if (!token) {
    auto who = authenticate(d, req, "upload");
    if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
    const auto& key = std::get<store::ApiKey>(who);
    return UploadAccess{key.account_id, key.id, std::nullopt, ""};
  }
  auto grant = uploads::verify_direct_token(d.cfg.common.signing_secret, *token, d.clock.now_unix());
  if (!grant) return http::Response::error(401, "invalid_upload_token", "the upload token is invalid or has expired");
  if (!upload_id.empty() && upload_id != grant->upload_id)
    return http::Response::error(403, "token_not_for_this_upload", "the upload token is for another upload");
  if (auto origin = req.header("origin"); origin && *origin != grant->origin)
    return http::Response::error(403, "origin_not_allowed", "the upload token is not valid from this origin");
  auto u = d.meta.get_upload(grant->upload_id);
  auto a = u ? d.meta.get_asset(u->asset_id) : std::nullopt;
  if (!u || !a || u->direct_origin != grant->origin || u->status == "terminated")
    return http::Response::error(404, "not_found", "no such upload");
  // One-time: the token stops working once its upload is received or has expired.
  if (u->status == "complete")
    return http::Response::error(410, "upload_complete", "this upload has been received; the token is spent");
  if (u->status == "expired" || (u->expires_at_ms && *u->expires_at_ms <= d.clock.now_unix_ms()))
    return http::Response::error(410, "upload_expired", "this upload has expired");
  return UploadAccess{a->account_id, "", std::move(*grant), *token};
}

http::RouteOptions upload_checked(const ApiDeps& d, http::RouteOptions o) {
  auto key_check = key_checked(d, "upload").before_body;
  o.before_body = [&d, key_check](const http::Request& req) -> std::optional<http::Response> {
    auto token = req.query_param("token");
    if (!token) return key_check(req);
    // The signature and expiry here (no database): the handler checks the rest.
    if (!uploads::verify_direct_token(d.cfg.common.signing_secret, *token, d.clock.now_unix()))
      return http::Response::error(401, "invalid_upload_token", "the upload token is invalid or has expired");
    return std::nullopt;
  };
  return o;
}

void direct_cors(const http::Request& req, http::Response& res, const uploads::DirectGrant& grant) {
  auto origin = req.header("origin");
  if (!origin || *origin != grant.origin) return;
  res.headers.set("Access-Control-Allow-Origin", grant.origin);
  res.headers.set("Vary", "Origin");
  if (req.method == "OPTIONS" && req.header("access-control-request-method")) {
    res.headers.set("Access-Control-Allow-Methods", "POST, HEAD, PATCH, PUT, DELETE, GET, OPTIONS");
    res.headers.set("Access-Control-Allow-Headers", std::string(kUploadAllowedHeaders));
    res.headers.set("Access-Control-Max-Age", "600");
  } else {
    res.headers.set("Access-Control-Expose-Headers", std::string(kUploadExposedHeaders));
  }
}

namespace {

http::Response too_large(const ApiDeps& d) {
  auto r = http::Response::error(413, "upload_too_large",
                                 "upload exceeds the limit of " + std::to_string(d.cfg.max_upload_bytes) + " bytes");
  r.close = true;  // the rest of the body is not read
  return r;
}

// A receiving claim lasts this long unless renewed; a PUT renews it at most this often.
// Short, because it is also how long the client of an API process that died mid-PUT
// waits before its retry is accepted (409 with Retry-After meanwhile); one UPDATE
// every few seconds per running upload is cheap.
constexpr int64_t kClaimLeaseMs = 20 * 1000;
constexpr auto kClaimRenewEvery = std::chrono::seconds(5);
// The body is read (recv straight into this buffer, on this thread) and written to
// the object store in pieces of this size. Small enough that the bytes recv puts in
// the buffer are still in the CPU's cache when write(2) copies them out: with 1 MiB
// pieces the kernel's copy into the page cache took 3-10x the CPU time on this
// machine (bench/README.md, upload section).
constexpr size_t kPutReadBytes = 128u << 10;

// Gives the claim back when the PUT ends without completing, so the client's retry
// is accepted at once (a completed upload clears the claim itself).
struct ClaimGuard {
  const ApiDeps& d;
  std::string upload_id, claim;
  bool completed = false;
  ~ClaimGuard() {
    if (completed) return;
    try {
      d.meta.release_upload_claim(upload_id, claim);
    } catch (const std::exception& e) {
      // The lease expires on its own.
      core::log::warn("upload_claim_release_failed", {{"upload_id", upload_id}, {"error", e.what()}});
    }
  }
};

// Uploading at all needs the storage feature of the lowest tier; higher tiers are the
// worker's ladder cap.
std::string storage_feature_720p(const ApiDeps& d) {
  return d.billing ? d.billing->storage_feature(billing::kTiers[0]) : std::string("storage_720p");
}

http::Response create_upload(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "upload");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& key = std::get<store::ApiKey>(who);
  auto body = parse_json_object(req.body);
  if (!body) return http::Response::error(400, "invalid_json", "request body must be a JSON object");

  store::Asset asset;
  asset.id = core::new_id("ast");
  asset.status = "waiting_upload";
  asset.visibility = "public";
  asset.account_id = key.account_id;
  asset.owner_key_id = key.id;  // "uploaded by"; the account owns it
  asset.created_at_ms = d.clock.now_unix_ms();
  if (auto* v = body->if_contains("visibility")) {
    if (!v->is_string() || (v->as_string() != "public" && v->as_string() != "private"))
      return http::Response::error(400, "invalid_visibility", "visibility must be \"public\" or \"private\"");
    asset.visibility = std::string(v->as_string());
  }
  auto names = asset_names_from_json(*body);
  if (auto* bad = std::get_if<AssetTextRefusal>(&names)) return http::Response::error(400, bad->code, bad->message);
  asset.name = std::get<AssetNames>(names).name;
  asset.source_filename = std::get<AssetNames>(names).filename;
  if (auto* v = body->if_contains("size_bytes"); v && !v->is_null()) {
    if (!v->is_int64() || v->as_int64() <= 0)
      return http::Response::error(400, "invalid_size", "size_bytes must be a positive integer");
    if (static_cast<uint64_t>(v->as_int64()) > d.cfg.max_upload_bytes) return too_large(d);
    asset.expected_bytes = v->as_int64();
  }
  // A direct upload (issue 13): a signed URL a browser page on `cors_origin` uses
  // instead of the key, for this upload only, until it is received or expires.
  std::string direct_origin;
  if (auto* v = body->if_contains("direct"); v && !v->is_null()) {
    if (!v->is_bool()) return http::Response::error(400, "invalid_direct", "direct must be true or false");
    if (v->as_bool()) {
      auto* o = body->if_contains("cors_origin");
      if (!o || !o->is_string() || !uploads::is_web_origin(o->as_string()))
        return http::Response::error(400, "invalid_cors_origin",
                                     "a direct upload needs cors_origin, an origin such as \"https://app.example\"");
      direct_origin = std::string(o->as_string());
    }
  }
  // Checked after the request is known to be valid (bad input stays a 400) and before
  // anything is created: a refused account leaves no asset behind.
  if (auto refused = entitlement_refusal(d, key.account_id, storage_feature_720p(d))) return std::move(*refused);
  store::Upload upload;
  upload.id = core::new_id("upl");
  upload.asset_id = asset.id;
  upload.expected_bytes = asset.expected_bytes;
  upload.status = "pending";
  upload.created_at_ms = asset.created_at_ms;
  upload.direct_origin = direct_origin;
  if (!direct_origin.empty()) upload.expires_at_ms = asset.created_at_ms + d.cfg.uploads.expiry_secs * 1000;
  d.meta.create_upload(asset, upload);
  core::log::info("upload_created", {{"asset_id", asset.id},
                                     {"upload_id", upload.id},
                                     {"key_id", key.id},
                                     {"account_id", key.account_id}});
  boost::json::object out{{"upload_id", upload.id},
                          {"asset_id", asset.id},
                          {"upload_url", d.cfg.public_base_url + "/v1/uploads/" + upload.id},
                          {"asset", asset_json(asset)}};
  if (!direct_origin.empty()) {
    const int64_t expires = *upload.expires_at_ms / 1000;
    const std::string token =
        uploads::sign_direct_token(d.cfg.common.signing_secret, {upload.id, expires, direct_origin});
    out["upload_url"] = d.cfg.public_base_url + "/v1/uploads/" + upload.id + "?token=" + token;
    out["direct"] = boost::json::object{{"token", token},
                                        {"cors_origin", direct_origin},
                                        {"expires_at", core::format_rfc3339_ms(*upload.expires_at_ms)},
                                        {"put_url", out["upload_url"]},
                                        {"tus_url", d.cfg.public_base_url + "/v1/uploads/tus?token=" + token}};
  }
  return json_response(201, out);
}

http::Response put_upload(const ApiDeps& d, http::Request& req) {
  const auto& id = req.params["id"];
  auto access = upload_access(d, req, id);
  if (auto* err = std::get_if<http::Response>(&access)) {
    err->close = true;
    return std::move(*err);
  }
  const auto& who = std::get<UploadAccess>(access);
  auto upload = core::is_valid_id(id) ? d.meta.get_upload(id) : std::nullopt;
  auto asset = upload ? d.meta.get_asset(upload->asset_id) : std::nullopt;
  if (!upload || !asset || asset->account_id != who.account_id) {
    auto r = http::Response::error(404, "not_found", "no such upload");
    r.close = true;
    return r;
  }
  auto cors = [&](http::Response r) {
    if (who.grant) direct_cors(req, r, *who.grant);
    return r;
  };
  if (upload->protocol != "put") {
    auto r = http::Response::error(409, "upload_is_resumable", "this upload is being received with tus");
    r.close = true;
    return cors(std::move(r));
  }
  if (upload->status != "pending" || asset->status != "waiting_upload") {
    auto r = http::Response::error(409, "upload_complete", "this upload has already been received");
    r.close = true;
    return r;
  }
  if (req.content_length && *req.content_length > d.cfg.max_upload_bytes) return too_large(d);

  // Claim the upload before reading a byte: two concurrent PUTs would otherwise both
  // stream into sources/{asset_id} and the later commit (maybe the loser's bytes)
  // would win. The claim is a lease, renewed while the body streams, so a crashed
  // API process does not block the upload forever.
  const std::string claim = core::new_id("rcv");
  if (!d.meta.claim_upload(upload->id, claim, d.clock.now_unix_ms(), kClaimLeaseMs)) {
    auto r = http::Response::error(409, "upload_in_progress",
                                   "another PUT of this upload is in progress; retry when it has finished or failed");
    r.headers.set("Retry-After", std::to_string(kClaimLeaseMs / 4000));
    r.close = true;
    return r;
  }
  ClaimGuard guard{d, upload->id, claim};
  auto renewed_at = std::chrono::steady_clock::now();
  auto still_claimed = [&] {
    renewed_at = std::chrono::steady_clock::now();
    return d.meta.renew_upload_claim(upload->id, claim, d.clock.now_unix_ms(), kClaimLeaseMs);
  };
  auto claim_lost = [] {
    auto r = http::Response::error(409, "upload_in_progress",
                                   "this PUT stalled past its claim and another PUT took the upload over");
    r.close = true;
    return r;
  };

  auto writer = d.objects.begin_put("sources/" + asset->id);
  std::vector<char> buf(kPutReadBytes);
  uint64_t total = 0;
  try {
    while (size_t n = req.body_stream->read(buf.data(), buf.size())) {
      total += n;
      if (total > d.cfg.max_upload_bytes) {
        core::log::warn("upload_too_large", {{"asset_id", asset->id}, {"received_bytes", total}});
        return too_large(d);  // writer destroyed uncommitted: nothing kept
      }
      writer->write(buf.data(), n);
      if (std::chrono::steady_clock::now() - renewed_at > kClaimRenewEvery && !still_claimed()) return claim_lost();
    }
  } catch (const std::exception& e) {
    core::log::warn("upload_interrupted", {{"asset_id", asset->id}, {"received_bytes", total}, {"error", e.what()}});
    auto r = http::Response::error(400, "upload_interrupted", "the upload ended before the whole body arrived");
    r.close = true;
    return r;
  }
  if (total == 0) return http::Response::error(400, "empty_upload", "the upload body is empty");
  if (upload->expected_bytes && static_cast<uint64_t>(*upload->expected_bytes) != total)
    return http::Response::error(400, "size_mismatch",
                                 "received " + std::to_string(total) + " bytes but size_bytes was " +
                                     std::to_string(*upload->expected_bytes));
  // Only the holder may put its bytes in place; renewing makes the lease outlast
  // the commit and the completion below.
  if (!still_claimed()) return claim_lost();
  writer->commit();
  try {
    d.meta.complete_upload(upload->id, static_cast<int64_t>(total), d.clock.now_unix_ms());
  } catch (const store::StoreError&) {
    // The asset was deleted meanwhile (or the upload completed by other means).
    return http::Response::error(409, "upload_complete", "this upload has already been received");
  }
  guard.completed = true;
  d.coord.notify_job();
  core::log::info("upload_received", {{"asset_id", asset->id}, {"bytes", total}});
  return cors(json_response(200, boost::json::object{{"asset_id", asset->id}, {"status", "queued"}, {"bytes", total}}));
}

// Progress of a PUT or tus upload. A PUT's offset is 0 until it completes (its bytes
// are counted in the handler, not recorded while they stream); a tus upload's is
// what has been acknowledged.
http::Response get_upload(const ApiDeps& d, http::Request& req) {
  const auto& id = req.params["id"];
  std::variant<UploadAccess, http::Response> access;
  if (req.query_param("token")) {
    access = upload_access(d, req, id);
  } else {
    auto who = authenticate(d, req, "read");
    if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
    access = UploadAccess{std::get<store::ApiKey>(who).account_id, std::get<store::ApiKey>(who).id, std::nullopt, ""};
  }
  if (auto* err = std::get_if<http::Response>(&access)) return std::move(*err);
  const auto& who = std::get<UploadAccess>(access);
  auto u = core::is_valid_id(id) ? d.meta.get_upload(id) : std::nullopt;
  auto a = u ? d.meta.get_asset(u->asset_id) : std::nullopt;
  if (!u || !a || a->account_id != who.account_id) return http::Response::error(404, "not_found", "no such upload");
  std::string status = u->status;
  if (status == "pending" && u->expires_at_ms && *u->expires_at_ms <= d.clock.now_unix_ms()) status = "expired";
  int64_t offset = u->protocol == "tus" ? u->progress.offset : 0;
  if (status == "complete") offset = a->source_bytes.value_or(u->expected_bytes.value_or(offset));
  boost::json::object out{{"id", u->id},
                          {"asset_id", u->asset_id},
                          {"protocol", u->protocol},
                          {"status", status},
                          {"offset", offset},
                          {"length", u->expected_bytes ? boost::json::value(*u->expected_bytes) : nullptr},
                          {"expires_at", u->expires_at_ms
                                             ? boost::json::value(core::format_rfc3339_ms(*u->expires_at_ms))
                                             : nullptr}};
  auto r = json_response(200, out);
  if (who.grant) direct_cors(req, r, *who.grant);
  return r;
}

}  // namespace

void add_upload_routes(http::Router& r, const ApiDeps& d) {
  r.add(
      "POST", "/v1/uploads", [&d](http::Request& q) { return create_upload(d, q); }, key_checked(d, "upload"));
  http::RouteOptions streamed;
  streamed.stream_body = true;
  r.add(
      "PUT", "/v1/uploads/{id}", [&d](http::Request& q) { return put_upload(d, q); }, upload_checked(d, streamed));
  r.add("GET", "/v1/uploads/{id}", [&d](http::Request& q) { return get_upload(d, q); });
  add_tus_routes(r, d);
}

}  // namespace rend::api
