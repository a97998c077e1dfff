#include "edge/edge.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "auth/api_keys.h"
#include "auth/playback_token.h"
#include "core/ids.h"
#include "core/log.h"
#include "edge/paths.h"
#include "edge/playlist_rewrite.h"
#include "http/cors.h"

namespace rend::edge {
namespace {

constexpr const char* kCookie = "rend_playback";

// Streams a byte range of a complete cached file. Reads hit the page cache on the
// hot path, so it runs on the I/O thread (may_block false).
class FileSource final : public http::BodySource {
 public:
  FileSource(int fd, uint64_t offset, uint64_t length) : fd_(fd), off_(offset), left_(length) {}
  ~FileSource() override { ::close(fd_); }
  size_t read(char* buf, size_t n) override {
    if (left_ == 0) return 0;
    ssize_t got = ::pread(fd_, buf, std::min<uint64_t>(n, left_), static_cast<off_t>(off_));
    if (got <= 0) throw std::runtime_error("cache file read failed");
    off_ += uint64_t(got);
    left_ -= uint64_t(got);
    return size_t(got);
  }

 private:
  int fd_;
  uint64_t off_, left_;
};

struct ByteRange {
  uint64_t first, last;
};
enum class RangeParse { none, ok, unsatisfiable };

// RFC 9110 §14: a single "bytes=" range; multiple ranges are served as the full
// representation (allowed: a server may ignore Range).
RangeParse parse_range(std::string_view h, uint64_t size, ByteRange& out) {
  if (h.rfind("bytes=", 0) != 0 || h.find(',') != std::string_view::npos) return RangeParse::none;
  auto spec = h.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeParse::none;
  auto a = spec.substr(0, dash), b = spec.substr(dash + 1);
  auto num = [](std::string_view s, uint64_t& v) {
    if (s.empty() || s.size() > 19) return false;
    v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + uint64_t(c - '0');
    }
    return true;
  };
  uint64_t x = 0, y = 0;
  if (a.empty()) {  // suffix: last y bytes
    if (!num(b, y)) return RangeParse::none;
    if (y == 0 || size == 0) return RangeParse::unsatisfiable;
    out = {size - std::min(y, size), size - 1};
    return RangeParse::ok;
  }
  if (!num(a, x)) return RangeParse::none;
  if (x >= size) return RangeParse::unsatisfiable;
  if (b.empty()) y = size - 1;
  else if (!num(b, y) || y < x) return RangeParse::none;
  out = {x, std::min(y, size - 1)};
  return RangeParse::ok;
}

const char* cache_control_for(ArtifactKind kind) {
  // Credentialed responses: private. Segments and posters never change under a
  // name; playlists do while an asset is still being transcoded.
  switch (kind) {
    case ArtifactKind::master:
    case ArtifactKind::playlist: return "private, max-age=1";
    default: return "private, max-age=31536000, immutable";
  }
}

http::Response serve_artifact(const EdgeDeps& d, http::Request& req) {
  // 1. The path, before anything touches disk or origin.
  auto ref = parse_playback_target(req.path);
  if (!ref) return http::Response::error(400, "invalid_path", "invalid playback path");

  // 2. The credential, checked locally.
  auto query_token = req.query_param("token");
  std::optional<std::string> token = query_token;
  if (!token) token = req.cookie(kCookie);
  if (!token || token->empty())
    return http::Response::error(401, "missing_credential", "a playback cookie or token is required");
  auto status = auth::verify_playback_token({{d.cfg.common.signing_key_id, d.cfg.common.signing_secret}}, *token,
                                            ref->asset_id, d.clock.now_unix());
  switch (status) {
    case auth::TokenStatus::ok: break;
    case auth::TokenStatus::wrong_asset:
      return http::Response::error(403, "wrong_asset", "this credential is for another asset");
    case auth::TokenStatus::expired:
      return http::Response::error(401, "token_expired", "the playback credential has expired");
    default: return http::Response::error(401, "invalid_token", "invalid playback credential");
  }

  // 3. Cache, filled from origin on a miss.
  bool is_playlist = ref->kind == ArtifactKind::master || ref->kind == ArtifactKind::playlist;
  auto key = object_key_for(*ref);
  std::optional<int64_t> max_age;
  if (is_playlist) max_age = static_cast<int64_t>(d.cfg.playlist_ttl_secs);
  auto entry = d.cache.lookup(key, max_age);
  const char* cache_result = "HIT";
  if (!entry) {
    cache_result = "MISS";
    switch (d.cache.fill(key, d.origin, d.cfg.max_origin_artifact_bytes)) {
      case FillStatus::filled:
      case FillStatus::purged: break;
      case FillStatus::not_found: return http::Response::error(404, "not_found", "no such artifact");
      case FillStatus::too_large: return http::Response::error(502, "artifact_too_large", "artifact exceeds the edge limit");
      case FillStatus::origin_error: return http::Response::error(502, "origin_error", "origin fetch failed");
    }
    entry = d.cache.lookup(key, std::nullopt);
    if (!entry) return http::Response::error(404, "not_found", "no such artifact");
  }

  http::Response res;
  res.headers.set("Content-Type", content_type_for(ref->path));
  res.headers.set("Cache-Control", cache_control_for(ref->kind));
  res.headers.set("x-rend-cache", cache_result);

  // A playlist fetched with ?token= carries the token into every URI inside, for
  // players that do not forward query parameters (hls.js, Safari, ffmpeg).
  if (is_playlist && query_token) {
    std::ifstream in(entry->file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    res.body = add_query_to_playlist_uris(ss.str(), "token", *query_token);
    return res;
  }

  res.headers.set("ETag", entry->etag);
  res.headers.set("Accept-Ranges", "bytes");
  if (auto inm = req.header("if-none-match"); inm && *inm == entry->etag) {
    res.status = 304;
    return res;
  }
  int fd = ::open(entry->file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return http::Response::error(503, "cache_unavailable", "cached file vanished; retry");
  uint64_t offset = 0, length = entry->size;
  if (auto rh = req.header("range")) {
    ByteRange br{};
    switch (parse_range(*rh, entry->size, br)) {
      case RangeParse::ok:
        res.status = 206;
        offset = br.first;
        length = br.last - br.first + 1;
        res.headers.set("Content-Range", "bytes " + std::to_string(br.first) + "-" + std::to_string(br.last) + "/" +
                                             std::to_string(entry->size));
        break;
      case RangeParse::unsatisfiable: {
        ::close(fd);
        auto r = http::Response::error(416, "range_not_satisfiable", "range not satisfiable");
        r.headers.set("Content-Range", "bytes */" + std::to_string(entry->size));
        return r;
      }
      case RangeParse::none: break;
    }
  }
  res.source = std::make_unique<FileSource>(fd, offset, length);
  res.source_length = length;
  return res;
}

std::optional<std::string> asset_from_body(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* a = v.as_object().if_contains("asset_id");
  if (!a || !a->is_string() || !core::is_valid_id(a->as_string())) return std::nullopt;
  return std::string(a->as_string());
}

bool internal_authorized(const EdgeDeps& d, const http::Request& req) {
  auto h = req.header("authorization");
  return h && auth::internal_token_matches(*h, d.cfg.common.edge_internal_token);
}

http::Response purge(const EdgeDeps& d, http::Request& req) {
  if (!internal_authorized(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto asset = asset_from_body(req.body);
  if (!asset) return http::Response::error(400, "invalid_request", "body must be {\"asset_id\": \"ast_...\"}");
  auto n = d.cache.purge_asset(*asset);
  core::log::info("edge_purged", {{"asset_id", *asset}, {"entries", static_cast<uint64_t>(n)}});
  return http::Response::json(200, "{\"asset_id\":\"" + *asset + "\",\"purged\":" + std::to_string(n) + "}");
}

// Warm: master, every variant playlist, the first two segments of each (SPEC §6).
http::Response warm(const EdgeDeps& d, http::Request& req) {
  if (!internal_authorized(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto asset = asset_from_body(req.body);
  if (!asset) return http::Response::error(400, "invalid_request", "body must be {\"asset_id\": \"ast_...\"}");
  const std::string prefix = "assets/" + *asset + "/";
  std::vector<std::string> todo{"master.m3u8"};
  int filled = 0;
  auto read_cached = [&](const std::string& key) -> std::string {
    auto e = d.cache.lookup(key, std::nullopt);
    if (!e) return {};
    std::ifstream in(e->file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto uris_of = [](const std::string& playlist) {
    std::vector<std::string> out;
    std::istringstream in(playlist);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line[0] != '#') out.push_back(line);
    }
    return out;
  };
  if (d.cache.fill(prefix + "master.m3u8", d.origin, d.cfg.max_origin_artifact_bytes) != FillStatus::filled)
    return http::Response::error(404, "not_found", "asset has no master playlist");
  filled++;
  for (const auto& variant : uris_of(read_cached(prefix + "master.m3u8"))) {
    if (variant.find("..") != std::string::npos || variant.find("://") != std::string::npos) continue;
    if (d.cache.fill(prefix + variant, d.origin, d.cfg.max_origin_artifact_bytes) != FillStatus::filled) continue;
    filled++;
    auto dir = variant.substr(0, variant.rfind('/') + 1);
    auto segs = uris_of(read_cached(prefix + variant));
    for (size_t i = 0; i < segs.size() && i < 2; ++i)
      if (d.cache.fill(prefix + dir + segs[i], d.origin, d.cfg.max_origin_artifact_bytes) == FillStatus::filled) filled++;
  }
  return http::Response::json(200, "{\"asset_id\":\"" + *asset + "\",\"warmed\":" + std::to_string(filled) + "}");
}

}  // namespace

std::shared_ptr<http::Router> make_router(const EdgeDeps& d) {
  auto r = std::make_shared<http::Router>();
  r->add("GET", "/v/{asset}/{path*}", [&d](http::Request& q) { return serve_artifact(d, q); });
  r->add("POST", "/internal/purge", [&d](http::Request& q) { return purge(d, q); });
  r->add("POST", "/internal/warm", [&d](http::Request& q) { return warm(d, q); });
  r->add("GET", "/healthz", [](http::Request&) { return http::Response::json(200, "{\"ok\":true}"); });
  r->add("GET", "/readyz", [&d](http::Request&) {
    bool cache_ok = d.cache.writable();
    auto origin = d.origin.health();
    bool ok = cache_ok && origin.ok;
    return http::Response::json(ok ? 200 : 503, std::string("{\"ready\":") + (ok ? "true" : "false") +
                                                    ",\"checks\":{\"cache_dir\":\"" + (cache_ok ? "ok" : "not writable") +
                                                    "\",\"origin\":\"" + (origin.ok ? "ok" : "down") + "\"}}");
  });
  return r;
}

std::function<void(const http::Request&, http::Response&)> make_decorator(const core::EdgeConfig& cfg) {
  return [&cfg](const http::Request& req, http::Response& res) {
    res.headers.set("x-rend-edge-id", cfg.edge_id);
    res.headers.set("x-rend-region", cfg.region);
    http::apply_cors(cfg.cors_allowed_origins, req, res, "GET, HEAD, OPTIONS", "Range, Content-Type");
  };
}

}  // namespace rend::edge
