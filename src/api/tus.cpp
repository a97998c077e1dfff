// tus 1.0 resumable uploads (issue 13): POST/HEAD/PATCH/DELETE/OPTIONS on
// /v1/uploads/tus[/{id}] with the creation, creation-with-upload, termination,
// expiration and checksum (sha1) extensions. The protocol is parsed by
// uploads/tus.h and the bytes stored by uploads::ResumableUploads; this file maps
// requests and outcomes to HTTP. Bodies stream (never whole in memory).
#include <memory>

#include "api/asset_text.h"
#include "api/common.h"
#include "api/upload_access.h"
#include "core/ids.h"
#include "core/log.h"
#include "uploads/resumable.h"
#include "uploads/tus.h"

namespace rend::api {
namespace {

using uploads::Outcome;

// Tus-Resumable on every answer but OPTIONS' (which says Tus-Version instead), and the
// CORS of a direct upload.
http::Response tus(http::Response r, const http::Request& req, const UploadAccess* who = nullptr) {
  r.headers.set("Tus-Resumable", std::string(uploads::kTusVersion));
  if (who && who->grant) direct_cors(req, r, *who->grant);
  return r;
}

http::Response refuse(int status, std::string_view code, std::string_view message, const http::Request& req,
                      const UploadAccess* who = nullptr) {
  auto r = http::Response::error(status, code, message);
  // The body (if any) is left unread: the connection cannot carry another request.
  if (req.body_stream) r.close = true;
  return tus(std::move(r), req, who);
}

std::optional<http::Response> version_refusal(const http::Request& req) {
  auto v = req.header("tus-resumable");
  if (v && *v == uploads::kTusVersion) return std::nullopt;
  auto r = http::Response::error(412, "unsupported_tus_version", "send Tus-Resumable: 1.0.0");
  r.headers.set("Tus-Version", std::string(uploads::kTusVersion));
  r.close = true;
  return r;
}

std::string upload_url(const ApiDeps& d, const std::string& id, const UploadAccess& who) {
  std::string url = d.cfg.public_base_url + "/v1/uploads/tus/" + id;
  if (who.grant) url += "?token=" + who.token;
  return url;
}

void set_expires(http::Response& r, const store::Upload& u) {
  if (u.expires_at_ms && u.status == "pending") r.headers.set("Upload-Expires", uploads::http_date(*u.expires_at_ms));
}

bool expired_now(const ApiDeps& d, const store::Upload& u) {
  return u.status == "expired" ||
         (u.status == "pending" && u.expires_at_ms && *u.expires_at_ms <= d.clock.now_unix_ms());
}

// The route's upload when `who` may use it: a tus upload of its account (a key) or
// the one its token names. Otherwise the refusal (404 unknown, 410 expired).
std::variant<store::Upload, http::Response> find_upload(const ApiDeps& d, const http::Request& req,
                                                        const UploadAccess& who) {
  const auto& id = req.params.at("id");
  auto u = core::is_valid_id(id) ? d.meta.get_upload(id) : std::nullopt;
  bool mine = false;
  if (u && u->protocol == "tus") {
    if (who.grant) {
      mine = who.grant->upload_id == u->id;
    } else {
      auto a = d.meta.get_asset(u->asset_id);
      mine = a && a->account_id == who.account_id;
    }
  }
  if (!mine || u->status == "terminated") return refuse(404, "not_found", "no such upload", req, &who);
  if (expired_now(d, *u)) return refuse(410, "upload_expired", "this upload has expired", req, &who);
  return *u;
}

struct Tus {
  const ApiDeps& d;
  uploads::ResumableUploads engine;

  explicit Tus(const ApiDeps& deps)
      : d(deps), engine(deps.meta, deps.objects, deps.coord, deps.clock, deps.cfg.uploads) {}

  http::Response options(const http::Request& req) {
    http::Response r;
    r.status = 204;
    r.headers.set("Tus-Resumable", std::string(uploads::kTusVersion));
    r.headers.set("Tus-Version", std::string(uploads::kTusVersion));
    r.headers.set("Tus-Extension", std::string(uploads::kTusExtensions));
    r.headers.set("Tus-Max-Size", std::to_string(d.cfg.max_upload_bytes));
    r.headers.set("Tus-Checksum-Algorithm", std::string(uploads::kChecksumAlgorithms));
    // A direct upload's preflight: its token names the one origin it answers.
    if (auto token = req.query_param("token")) {
      if (auto grant = uploads::verify_direct_token(d.cfg.common.signing_secret, *token, d.clock.now_unix()))
        direct_cors(req, r, *grant);
    }
    return r;
  }

  // PATCH and creation-with-upload: append the body at `offset`, map the outcome.
  http::Response append(const http::Request& req, const UploadAccess& who, const store::Upload& u, int64_t offset,
                        int success_status) {
    std::optional<uploads::Checksum> checksum;
    if (auto h = req.header("upload-checksum")) {
      checksum = uploads::parse_checksum(*h);
      if (!checksum) return refuse(400, "invalid_checksum", "Upload-Checksum must be \"sha1 <base64>\"", req, &who);
      if (checksum->algorithm != "sha1")
        return refuse(400, "unsupported_checksum_algorithm", "the only checksum algorithm is sha1", req, &who);
    }
    uploads::BodyRead body = [&req](char* buf, size_t n) -> size_t {
      return req.body_stream ? req.body_stream->read(buf, n) : 0;
    };
    auto res = engine.append(u.id, offset, body, req.content_length, checksum);
    switch (res.outcome) {
      case Outcome::ok: break;
      case Outcome::busy: {
        auto r = refuse(423, "upload_in_progress", "another request is writing this upload; retry shortly", req, &who);
        r.headers.set("Retry-After", "1");
        return r;
      }
      case Outcome::gone: {
        auto now = d.meta.get_upload(u.id);
        if (now && now->status == "complete")
          return refuse(409, "upload_complete", "this upload has already been received", req, &who);
        if (now && now->status == "expired") return refuse(410, "upload_expired", "this upload has expired", req, &who);
        return refuse(404, "not_found", "no such upload", req, &who);
      }
      case Outcome::offset_mismatch: {
        auto r = refuse(409, "offset_mismatch", "Upload-Offset is not the upload's offset", req, &who);
        r.headers.set("Upload-Offset", std::to_string(res.offset));
        return r;
      }
      case Outcome::too_large: return refuse(413, "upload_too_large", "the body goes past Upload-Length", req, &who);
      case Outcome::checksum_mismatch:
        return refuse(460, "checksum_mismatch", "the body does not match Upload-Checksum; nothing was kept", req, &who);
      case Outcome::interrupted:
        return refuse(400, "upload_interrupted", "the body ended early; resume from Upload-Offset", req, &who);
    }
    http::Response r;
    r.status = success_status;
    r.headers.set("Upload-Offset", std::to_string(res.offset));
    if (!res.completed) set_expires(r, u);
    return tus(std::move(r), req, &who);
  }

  http::Response create(http::Request& req) {
    if (auto r = version_refusal(req)) return std::move(*r);
    auto access = upload_access(d, req, "");
    if (auto* err = std::get_if<http::Response>(&access)) {
      err->close = req.body_stream != nullptr;
      return tus(std::move(*err), req);
    }
    const auto& who = std::get<UploadAccess>(access);
    if (req.header("upload-defer-length"))
      return refuse(400, "defer_length_unsupported", "send Upload-Length (creation-defer-length is not offered)", req,
                    &who);
    auto len_h = req.header("upload-length");
    auto length = len_h ? uploads::parse_size(*len_h) : std::nullopt;
    if (!length || *length == 0)
      return refuse(400, "invalid_upload_length", "Upload-Length must be a positive integer", req, &who);
    if (uint64_t(*length) > d.cfg.max_upload_bytes)
      return refuse(413, "upload_too_large",
                    "upload exceeds the limit of " + std::to_string(d.cfg.max_upload_bytes) + " bytes", req, &who);
    auto meta = uploads::parse_metadata(req.header("upload-metadata").value_or(""));
    if (!meta) return refuse(400, "invalid_metadata", "Upload-Metadata must be key base64-value pairs", req, &who);
    std::string visibility = "public";
    if (auto v = meta->find("visibility"); v != meta->end()) {
      if (v->second != "public" && v->second != "private")
        return refuse(400, "invalid_visibility", "visibility must be \"public\" or \"private\"", req, &who);
      visibility = v->second;
    }
    auto checked_names = asset_names_from_metadata(*meta);
    if (auto* why = std::get_if<std::string>(&checked_names)) return refuse(400, "invalid_metadata", *why, req, &who);
    const auto names = std::get<AssetNames>(std::move(checked_names));
    const bool has_body = req.body_stream != nullptr && (req.chunked || req.content_length.value_or(0) > 0);
    if (has_body && req.header("content-type") != uploads::kOffsetContentType)
      return refuse(415, "unsupported_media_type", "an upload body needs Content-Type: application/offset+octet-stream",
                    req, &who);
    if (auto refused = entitlement_refusal(d, who.account_id, storage_feature())) {
      refused->close = req.body_stream != nullptr;
      return tus(std::move(*refused), req, &who);
    }

    store::Upload upload;
    if (who.grant) {
      // A direct upload: its slot exists; this makes it resumable (once; a retried
      // creation of the same length gets the same upload).
      auto slot = d.meta.get_upload(who.grant->upload_id);
      if (!slot) return refuse(404, "not_found", "no such upload", req, &who);
      if (slot->protocol == "put") {
        const std::string handle = engine.begin_storage(slot->asset_id);
        if (!d.meta.start_resumable_upload(slot->id, *length, handle, slot->expires_at_ms.value_or(0))) {
          engine.discard_storage(slot->asset_id, handle);
          return refuse(409, "upload_in_progress", "this upload is already being received", req, &who);
        }
      }
      auto now = d.meta.get_upload(who.grant->upload_id);
      if (!now || now->protocol != "tus" || now->expected_bytes != *length || now->status != "pending")
        return refuse(409, "upload_conflict", "this direct upload was started with another length", req, &who);
      upload = *now;
      // The page's metadata fills in what the creator of the slot left out, never
      // overrules it (a retried creation finds both set).
      if (names.name || names.filename) {
        auto asset = d.meta.get_asset(upload.asset_id);
        if (asset && names.name && !asset->name) d.meta.set_asset_name(asset->id, names.name);
        if (asset && names.filename && !asset->source_filename) d.meta.set_source_filename(asset->id, *names.filename);
      }
    } else {
      store::Asset asset;
      asset.id = core::new_id("ast");
      asset.status = "waiting_upload";
      asset.visibility = visibility;
      asset.account_id = who.account_id;
      asset.owner_key_id = who.key_id;
      asset.created_at_ms = d.clock.now_unix_ms();
      asset.expected_bytes = *length;
      asset.name = names.name;
      asset.source_filename = names.filename;
      upload.id = core::new_id("upl");
      upload.asset_id = asset.id;
      upload.expected_bytes = *length;
      upload.status = "pending";
      upload.created_at_ms = asset.created_at_ms;
      upload.protocol = "tus";
      upload.expires_at_ms = asset.created_at_ms + engine.settings().expiry_secs * 1000;
      upload.multipart_handle = engine.begin_storage(asset.id);
      try {
        d.meta.create_upload(asset, upload);
      } catch (...) {
        engine.discard_storage(asset.id, upload.multipart_handle);
        throw;
      }
    }
    core::log::info("upload_created", {{"asset_id", upload.asset_id},
                                       {"upload_id", upload.id},
                                       {"key_id", who.key_id},
                                       {"account_id", who.account_id},
                                       {"protocol", "tus"},
                                       {"direct", who.grant.has_value()}});
    http::Response r = json_response(201, boost::json::object{{"upload_id", upload.id}, {"asset_id", upload.asset_id}});
    if (has_body) {
      auto appended = append(req, who, upload, upload.progress.offset == 0 ? 0 : -1, 201);
      if (appended.status != 201) return appended;
      r.headers.set("Upload-Offset", std::string(*appended.headers.get("upload-offset")));
    }
    r.headers.set("Location", upload_url(d, upload.id, who));
    r.headers.set("Rend-Asset-Id", upload.asset_id);
    set_expires(r, upload);
    return tus(std::move(r), req, &who);
  }

  http::Response head(http::Request& req) {
    if (auto r = version_refusal(req)) return std::move(*r);
    auto access = upload_access(d, req, req.params.at("id"));
    if (auto* err = std::get_if<http::Response>(&access)) return tus(std::move(*err), req);
    const auto& who = std::get<UploadAccess>(access);
    auto found = find_upload(d, req, who);
    if (auto* err = std::get_if<http::Response>(&found)) return std::move(*err);
    auto u = std::get<store::Upload>(std::move(found));
    // All bytes recorded but not completed: the process that stored them died before
    // completing. Completing here makes the client's resume succeed.
    if (u.status == "pending" && u.expected_bytes && u.progress.offset == *u.expected_bytes &&
        engine.finish_if_stored(u.id))
      u = *d.meta.get_upload(u.id);
    http::Response r;
    r.status = 200;
    r.headers.set("Upload-Offset",
                  std::to_string(u.status == "complete" ? u.expected_bytes.value_or(0) : u.progress.offset));
    r.headers.set("Upload-Length", std::to_string(u.expected_bytes.value_or(0)));
    r.headers.set("Cache-Control", "no-store");
    r.headers.set("Rend-Asset-Id", u.asset_id);
    set_expires(r, u);
    return tus(std::move(r), req, &who);
  }

  http::Response patch(http::Request& req) {
    if (auto r = version_refusal(req)) return std::move(*r);
    auto access = upload_access(d, req, req.params.at("id"));
    if (auto* err = std::get_if<http::Response>(&access)) {
      err->close = true;
      return tus(std::move(*err), req);
    }
    const auto& who = std::get<UploadAccess>(access);
    if (req.header("content-type") != uploads::kOffsetContentType)
      return refuse(415, "unsupported_media_type", "PATCH needs Content-Type: application/offset+octet-stream", req,
                    &who);
    auto off_h = req.header("upload-offset");
    auto offset = off_h ? uploads::parse_size(*off_h) : std::nullopt;
    if (!offset) return refuse(400, "invalid_upload_offset", "Upload-Offset must be a non-negative integer", req, &who);
    auto found = find_upload(d, req, who);
    if (auto* err = std::get_if<http::Response>(&found)) return std::move(*err);
    const auto& u = std::get<store::Upload>(found);
    if (u.status == "complete")
      return refuse(409, "upload_complete", "this upload has already been received", req, &who);
    if (*offset != u.progress.offset) {
      auto r = refuse(409, "offset_mismatch", "Upload-Offset is not the upload's offset", req, &who);
      r.headers.set("Upload-Offset", std::to_string(u.progress.offset));
      return r;
    }
    return append(req, who, u, *offset, 204);
  }

  http::Response remove(http::Request& req) {
    if (auto r = version_refusal(req)) return std::move(*r);
    auto access = upload_access(d, req, req.params.at("id"));
    if (auto* err = std::get_if<http::Response>(&access)) return tus(std::move(*err), req);
    const auto& who = std::get<UploadAccess>(access);
    auto found = find_upload(d, req, who);
    if (auto* err = std::get_if<http::Response>(&found)) return std::move(*err);
    const auto& u = std::get<store::Upload>(found);
    if (u.status == "complete")
      return refuse(409, "upload_complete", "a received upload is not terminated; delete its asset", req, &who);
    switch (engine.end(u.id, "terminated")) {
      case Outcome::ok: {
        http::Response r;
        r.status = 204;
        return tus(std::move(r), req, &who);
      }
      case Outcome::busy: {
        auto r = refuse(423, "upload_in_progress", "another request is writing this upload; retry shortly", req, &who);
        r.headers.set("Retry-After", "1");
        return r;
      }
      default: return refuse(404, "not_found", "no such upload", req, &who);
    }
  }

  std::string storage_feature() const {
    return d.billing ? d.billing->storage_feature(billing::kTiers[0]) : std::string("storage_720p");
  }
};

}  // namespace

void add_tus_routes(http::Router& r, const ApiDeps& d) {
  auto t = std::make_shared<Tus>(d);
  http::RouteOptions streamed;
  streamed.stream_body = true;
  // Tus-Resumable is checked before the body too: a client speaking another version
  // is not invited to send it.
  auto checked = upload_checked(d, streamed);
  auto inner = checked.before_body;
  checked.before_body = [inner](const http::Request& req) -> std::optional<http::Response> {
    if (auto refused = version_refusal(req)) return refused;
    // A refusal before the handler (no key, wrong scope, over the limit) is a tus
    // answer too: tus 1.0 wants Tus-Resumable on every answer but OPTIONS'.
    if (auto refused = inner(req)) return tus(std::move(*refused), req);
    return std::nullopt;
  };
  r.add("OPTIONS", "/v1/uploads/tus", [t](http::Request& q) { return t->options(q); });
  r.add("OPTIONS", "/v1/uploads/tus/{id}", [t](http::Request& q) { return t->options(q); });
  r.add(
      "POST", "/v1/uploads/tus", [t](http::Request& q) { return t->create(q); }, checked);
  r.add("HEAD", "/v1/uploads/tus/{id}", [t](http::Request& q) { return t->head(q); });
  r.add(
      "PATCH", "/v1/uploads/tus/{id}", [t](http::Request& q) { return t->patch(q); }, checked);
  r.add("DELETE", "/v1/uploads/tus/{id}", [t](http::Request& q) { return t->remove(q); });
}

}  // namespace rend::api
