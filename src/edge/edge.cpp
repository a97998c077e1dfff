#include "edge/edge.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "auth/api_keys.h"
#include "auth/playback_token.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/log.h"
#include "edge/conditional.h"
#include "hls/rewrite.h"
#include "http/client.h"
#include "http/cors.h"
#include "playback/credential.h"
#include "playback/paths.h"
#include "playback/vtt_rewrite.h"

namespace rend::edge {
namespace {

class FileRangeSource final : public http::BodySource {
 public:
  FileRangeSource(int fd, uint64_t offset, uint64_t length)
      : fd_(fd), off_(offset), left_(length), range_{fd, offset, length} {}
  ~FileRangeSource() override { ::close(fd_); }
  size_t read(char* buf, size_t n) override {
    if (left_ == 0) return 0;
    ssize_t got = ::pread(fd_, buf, std::min<uint64_t>(n, left_), static_cast<off_t>(off_));
    if (got <= 0) throw std::runtime_error("cache file read failed");
    off_ += uint64_t(got);
    left_ -= uint64_t(got);
    return size_t(got);
  }
  std::optional<FileRange> file_range() const override { return range_; }

 private:
  int fd_;
  uint64_t off_, left_;
  FileRange range_;
};

// Heterogeneous lookup for the per-thread memos below: a string_view finds without
// building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
};

// A playlist (or storyboard) fetched with ?token= is rewritten to carry the token in
// every URI: a parse and a copy per request, for the same few bodies over and over
// (a player refreshes its playlists with one token). So each thread remembers the
// rewritten bodies by token and by the cached object they were made from: the memo
// holds that object, so its address stays unique while the entry lives, and a
// refilled playlist (a new object) is rewritten afresh. Bounded in bytes.
std::shared_ptr<const std::string> rewrite_memoized(const std::shared_ptr<const std::string>& src,
                                                    std::string_view token, bool playlist) {
  struct Entry {
    std::shared_ptr<const std::string> src, out;
  };
  struct Memo {
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> map;
    size_t bytes = 0;
  };
  thread_local Memo memo;
  constexpr size_t kMaxBytes = 8u << 20;
  const void* id = src.get();
  thread_local std::string key;  // reused: a hit builds its key without allocating
  key.assign(token).push_back('\0');
  key.append(reinterpret_cast<const char*>(&id), sizeof id);
  // The key names the object by its address, which the entry keeps alive: a hit is
  // a rewrite of this very object.
  if (auto it = memo.map.find(key); it != memo.map.end()) return it->second.out;
  auto out = std::make_shared<const std::string>(playlist ? hls::add_query_to_playlist_uris(*src, "token", token)
                                                          : playback::add_query_to_vtt_cue_uris(*src, "token", token));
  const size_t cost = key.size() + src->size() + out->size();
  if (cost > kMaxBytes / 4) return out;  // a huge playlist: not worth keeping
  if (memo.bytes + cost > kMaxBytes) {
    memo.map.clear();
    memo.bytes = 0;
  }
  memo.bytes += cost;
  memo.map.emplace(key, Entry{src, out});
  return out;
}

struct Credential {
  std::string storage;                          // a percent-decoded query token
  std::optional<std::string_view> query_token;  // set when the token came in the query
  playback::CredentialCheck check;
};

// Fills `c` (in place: query_token may point into c.storage).
void check_credential(const EdgeDeps& d, const http::Request& req, const playback::ArtifactRef& ref, Credential& c) {
  c.query_token = req.query_param_view("token", c.storage);  // no copy in the usual case
  c.check = playback::check_credential(c.query_token, req.cookie_view(playback::kCookieName), ref.asset_id,
                                       [&d](std::string_view token, std::string_view asset_id) {
                                         return verify_token_memoized(d.keys, token, asset_id, d.clock.now_unix());
                                       });
}

// Applies Range / If-None-Match to an object of `size` bytes. Returns the status to
// answer with (200, 206, 304 or 416) and the byte window.
int negotiate(const http::Request& req, http::Response& res, const std::string& etag, uint64_t size, uint64_t& offset,
              uint64_t& length) {
  offset = 0;
  length = size;
  // Neither field is on `res` yet (its handler sets only the type, caching and cache
  // result): add() without a search.
  res.headers.add("ETag", etag);
  res.headers.add("Accept-Ranges", "bytes");
  // RFC 9110 §13.2.2: If-None-Match before Range.
  if (auto inm = req.header("if-none-match"); inm && if_none_match_matches(*inm, etag)) return 304;
  if (auto rh = req.header("range")) {
    auto pr = parse_range(*rh, size);
    switch (pr.result) {
      case RangeParse::satisfiable:
        offset = pr.range.first;
        length = pr.range.last - pr.range.first + 1;
        res.headers.set("Content-Range", "bytes " + std::to_string(pr.range.first) + "-" +
                                             std::to_string(pr.range.last) + "/" + std::to_string(size));
        return 206;
      case RangeParse::unsatisfiable: return 416;
      default: break;  // ignore: the whole object
    }
  }
  return 200;
}

http::Response range_not_satisfiable(uint64_t size) {
  auto r = http::Response::error(416, "range_not_satisfiable", "range not satisfiable");
  r.headers.set("Content-Range", "bytes */" + std::to_string(size));
  return r;
}

// A miss's answer, made once its fill's outcome is known: at once when the fill is
// already streaming, else by DeferredMiss when the origin has answered.
struct MissAnswer {
  http::Response res;        // Content-Type and Cache-Control set
  http::Request conditions;  // only If-None-Match and Range
  bool is_thumbnail = false, is_playlist = false, rewrite = false;
  std::string token;  // the query token a rewritten text carries
  // The status to answer with once `fill` can answer, else nullopt (the origin's head
  // is pending; a rewritten text waits for the whole object).
  std::optional<FillStatus> ready(const Fill& fill) const {
    auto o = fill.outcome();
    if (o && *o == FillStatus::filled && rewrite) {
      auto st = fill.progress().state;
      if (st != Fill::State::complete && st != Fill::State::failed) return std::nullopt;
    }
    return o;
  }
  http::Response make(FillStatus status, const std::shared_ptr<Fill>& fill);
};

// Answers a miss when its fill can, without a thread waiting for the origin.
class DeferredMiss final : public http::DeferredResponse {
 public:
  DeferredMiss(MissAnswer a, std::shared_ptr<Fill> fill) : a_(std::move(a)), fill_(std::move(fill)) {}
  std::optional<http::Response> try_take() override {
    seen_ = fill_->progress();
    auto ready = a_.ready(*fill_);
    if (!ready) return std::nullopt;
    return a_.make(*ready, fill_);
  }
  void notify_when_ready(std::function<void()> ready) override { fill_->notify_on_change(seen_, std::move(ready)); }

 private:
  MissAnswer a_;
  std::shared_ptr<Fill> fill_;
  Fill::Progress seen_;
};

// The viewer path parsed, remembered per thread for the last path seen: a response's
// handler and its telemetry (the completion hook, which runs right after the write on
// the same I/O thread) parse the same path, and a parse costs a few allocations. The
// pointer is valid until the next call on this thread.
const playback::ArtifactRef* viewer_ref(std::string_view path) {
  struct Memo {
    std::string path;
    std::optional<playback::ArtifactRef> ref;
    bool valid = false;
  };
  thread_local Memo memo;
  if (!memo.valid || memo.path != path) {
    memo.valid = false;  // stays so if the parse throws
    memo.ref = playback::parse_playback_target(path);
    memo.path.assign(path);
    memo.valid = true;
  }
  return memo.ref ? &*memo.ref : nullptr;
}

http::Response serve_artifact(const EdgeDeps& d, http::Request& req, int attempt = 0) {
  // 1. The path, before anything touches disk or origin. A copy only for the miss
  // path's own use is not needed: nothing below parses another viewer path.
  const playback::ArtifactRef* ref = viewer_ref(req.path);
  if (!ref) return http::Response::error(400, "invalid_path", "invalid playback path");

  // 2. The credential, checked locally.
  Credential cred;
  check_credential(d, req, *ref, cred);
  if (!cred.check.allowed()) return http::Response::error(cred.check.status, cred.check.code, cred.check.message);

  const bool is_playlist = playback::is_playlist(ref->kind);
  const bool is_thumbnail = ref->kind == playback::ArtifactKind::thumbnail;
  std::string key;
  store::ObjectStore* origin = &d.origin;
  ThumbnailQuery thumb;
  bool thumb_resolved = false;
  // A thumbnail's key names its time and width; it is checked against the video
  // (Thumbnailer::resolve, which may read playlists) before a fill renders it. With an
  // explicit time the key is known up front, so a cached thumbnail is a plain hit.
  auto resolve_thumbnail = [&]() -> std::optional<http::Response> {
    auto r = d.thumbnails->resolve(ref->asset_id, thumb.time_ds, thumb.width);
    if (auto* e = std::get_if<ThumbnailError>(&r)) return http::Response::error(e->status, e->code, e->message);
    key = std::get<std::string>(r);
    thumb_resolved = true;
    return std::nullopt;
  };
  if (is_thumbnail) {
    if (!d.thumbnails) return http::Response::error(404, "not_found", "no such artifact");
    auto q = parse_thumbnail_query(req.query_param("time"), req.query_param("width"));
    if (auto* e = std::get_if<ThumbnailError>(&q)) return http::Response::error(e->status, e->code, e->message);
    thumb = std::get<ThumbnailQuery>(q);
    origin = d.thumbnails.get();
    if (thumb.time_ds) {
      key = thumbnail_key(ref->asset_id, *thumb.time_ds, thumb.width);
    } else {
      if (!req.may_block) return http::Response::blocking();
      if (auto err = resolve_thumbnail()) return std::move(*err);
    }
  } else {
    key = playback::object_key_for(*ref);
  }
  std::optional<int64_t> max_age;
  if (is_playlist) max_age = static_cast<int64_t>(d.cfg.playlist_ttl_secs) * 1000;

  http::Response res;  // fresh: add() without looking for an earlier field of the name
  res.headers.add("Content-Type", playback::content_type_for(ref->path));
  res.headers.add("Cache-Control", std::string(playback::cache_control_for(ref->kind)));

  // A playlist fetched with ?token= carries the token into every URI inside, for
  // players that do not forward query parameters (hls.js, Safari, ffmpeg). Such a
  // body depends on the token, so it gets no ETag and no ranges.
  // The same for the storyboard's cues: their sheets need the token as well.
  const bool rewrite = (is_playlist || ref->path == "storyboard.vtt") && cred.query_token.has_value();
  auto rewritten = [&](const std::string& text) {
    res.body = is_playlist ? hls::add_query_to_playlist_uris(text, "token", *cred.query_token)
                           : playback::add_query_to_vtt_cue_uris(text, "token", *cred.query_token);
    return std::move(res);
  };

  // 3a. Hit: answered on the I/O thread (memory for small objects, sendfile else).
  if (auto hit = d.cache.lookup(key, max_age)) {
    res.headers.add("x-rend-cache", "HIT");
    if (rewrite && hit->body) {
      res.shared_body = rewrite_memoized(hit->body, *cred.query_token, is_playlist);
      return res;
    }
    uint64_t off = 0, len = 0;
    int st = negotiate(req, res, hit->etag, hit->size, off, len);
    if (st == 416) return range_not_satisfiable(hit->size);
    res.status = st;
    if (st == 304) return res;
    if (hit->body) {
      if (off == 0 && len == hit->size) res.shared_body = std::move(hit->body);  // no copy
      else res.body = hit->body->substr(off, len);
      return res;
    }
    if (rewrite && !req.may_block) return http::Response::blocking();
    int fd = ::open(hit->file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (rewrite) {  // a large playlist: read it whole (on the pool)
        std::string text(hit->size, '\0');
        ssize_t got = ::pread(fd, text.data(), text.size(), 0);
        ::close(fd);
        if (got == ssize_t(text.size())) return rewritten(text);
      } else {
        res.source = std::make_unique<FileRangeSource>(fd, off, len);
        res.source_length = len;
        return res;
      }
    }
    d.cache.forget(key);  // the file vanished (evicted or removed by hand): refill
  }

  // 3b. Miss. Joining or starting the fill never blocks, so it runs on the I/O thread;
  // the answer waits for the origin's head as a deferred response, which holds no
  // thread, and its body streams the fill through a FillReader (no thread either).
  // Only resolving a thumbnail's time, or waiting for a free fill slot, blocks.
  if (is_thumbnail && !thumb_resolved) {
    if (!req.may_block) return http::Response::blocking();
    if (auto err = resolve_thumbnail()) return std::move(*err);
  }
  auto miss = d.cache.start_fetch(key, *origin, max_age);
  if (miss.would_wait) {
    if (!req.may_block) return http::Response::blocking();
    miss = d.cache.start_fetch(key, *origin, max_age, /*wait_for_slot=*/true);
  }
  if (miss.status == FillStatus::cached) {
    if (attempt == 0) return serve_artifact(d, req, 1);
    return http::Response::error(503, "cache_unavailable", "cache entry churned; retry");
  }
  MissAnswer answer;
  answer.res = std::move(res);
  answer.is_thumbnail = is_thumbnail;
  answer.is_playlist = is_playlist;
  answer.rewrite = rewrite;
  if (rewrite) answer.token = *cred.query_token;
  // Only what negotiate() reads: the request itself may be gone by the time a
  // deferred answer is made.
  for (const char* h : {"if-none-match", "range"})
    if (auto v = req.header(h)) answer.conditions.headers.add(h, std::string(*v));
  if (miss.status != FillStatus::filled) return answer.make(miss.status, nullptr);
  if (auto ready = answer.ready(*miss.fill)) return answer.make(*ready, miss.fill);
  http::Response deferred;
  deferred.deferred = std::make_shared<DeferredMiss>(std::move(answer), std::move(miss.fill));
  return deferred;
}

// The answer to a miss once its fill's outcome is known.
http::Response MissAnswer::make(FillStatus status, const std::shared_ptr<Fill>& fill) {
  switch (status) {
    case FillStatus::filled: break;
    case FillStatus::not_found: return http::Response::error(404, "not_found", "no such artifact");
    case FillStatus::origin_error:
      if (!is_thumbnail) return http::Response::error(502, "origin_error", "origin fetch failed");
      {
        // Rendering failed or every ffmpeg slot stayed taken (logged by the Thumbnailer).
        auto r = http::Response::error(503, "thumbnail_unavailable", "the thumbnail could not be made; retry shortly");
        r.headers.set("Retry-After", "1");
        return r;
      }
    case FillStatus::too_large:
      return http::Response::error(502, "artifact_too_large", "artifact exceeds the edge limit");
    case FillStatus::busy: {
      auto r = http::Response::error(503, "edge_busy", "too many origin fetches in flight; retry shortly");
      r.headers.set("Retry-After", "1");
      return r;
    }
    case FillStatus::no_space: {
      auto r = http::Response::error(503, "edge_cache_full", "the edge cache's disk is full; retry shortly");
      r.headers.set("Retry-After", "5");
      return r;
    }
    default: return http::Response::error(502, "origin_error", "origin fetch failed");
  }
  res.headers.set("x-rend-cache", "MISS");
  if (rewrite) {
    // The rewrite needs the whole text (playlists are small): ready() waited for the
    // fill's end, so what is on disk is all there will be.
    const auto p = fill->progress();
    if (p.state != Fill::State::complete || p.written != fill->size())
      return http::Response::error(502, "origin_error", "origin fetch failed");
    std::string text(fill->size(), '\0');
    for (uint64_t off = 0; off < text.size();) {
      size_t got = fill->read_at(text.data() + off, size_t(text.size() - off), off);
      if (got == 0) return http::Response::error(502, "origin_error", "origin fetch failed");
      off += got;
    }
    res.body = is_playlist ? hls::add_query_to_playlist_uris(text, "token", token)
                           : playback::add_query_to_vtt_cue_uris(text, "token", token);
    return std::move(res);
  }
  uint64_t off = 0, len = 0;
  int st = negotiate(conditions, res, fill->etag(), fill->size(), off, len);
  if (st == 416) return range_not_satisfiable(fill->size());
  res.status = st;
  if (st == 304) return std::move(res);
  res.source = std::make_unique<FillReader>(fill, off, len);
  res.source_length = len;
  return std::move(res);
}

std::optional<std::string> asset_from_json(const boost::json::object& o) {
  auto* a = o.if_contains("asset_id");
  if (!a || !a->is_string() || !core::is_valid_id(a->as_string())) return std::nullopt;
  return std::string(a->as_string());
}

std::optional<boost::json::object> json_body(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

bool internal_authorized(const EdgeDeps& d, const http::Request& req) {
  auto h = req.header("authorization");
  return h && !d.cfg.common.edge_internal_token.empty() &&
         auth::internal_token_matches(*h, d.cfg.common.edge_internal_token);
}

http::Response purge(const EdgeDeps& d, http::Request& req) {
  if (!internal_authorized(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto body = json_body(req.body);
  auto asset = body ? asset_from_json(*body) : std::nullopt;
  if (!asset) return http::Response::error(400, "invalid_request", "body must be {\"asset_id\": \"ast_...\"}");
  auto n = d.cache.purge_asset(*asset);
  core::log::info("edge_purged", {{"asset_id", *asset}, {"entries", static_cast<uint64_t>(n)}});
  return http::Response::json(200, "{\"asset_id\":\"" + *asset + "\",\"purged\":" + std::to_string(n) + "}");
}

std::vector<std::string> uris_of(const std::string& playlist) {
  std::vector<std::string> out;
  std::istringstream in(playlist);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

// Warm: `paths` when given, else master, every variant playlist and the first two
// segments of each (SPEC §6); never more than REND_EDGE_WARM_MAX_ARTIFACTS fetches.
http::Response warm(const EdgeDeps& d, http::Request& req) {
  if (!internal_authorized(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto body = json_body(req.body);
  auto asset = body ? asset_from_json(*body) : std::nullopt;
  if (!asset) return http::Response::error(400, "invalid_request", "body must be {\"asset_id\": \"ast_...\"}");
  const std::string prefix = "assets/" + *asset + "/";
  const uint64_t budget = d.cfg.warm_max_artifacts;
  uint64_t attempted = 0, warmed = 0;
  auto warm_one = [&](const std::string& path) {
    if (attempted >= budget) return false;
    attempted++;
    // A warm follows a publish, which may have replaced a playlist (the fast-path
    // master by the ladder's): playlists are refetched even when cached and fresh.
    auto ref = playback::parse_playback_target("/v/" + *asset + "/" + path);
    std::optional<int64_t> max_age;
    if (ref && playback::is_playlist(ref->kind)) max_age = 0;
    bool ok = d.cache.fill_and_wait(prefix + path, d.origin, max_age) == FillStatus::filled;
    if (ok) warmed++;
    return ok;
  };
  auto text_of = [&](const std::string& path) -> std::string {
    auto hit = d.cache.lookup(prefix + path);
    if (!hit) return {};
    if (hit->body) return *hit->body;
    std::ifstream in(hit->file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };

  if (auto* p = body->if_contains("paths")) {
    if (!p->is_array())
      return http::Response::error(400, "invalid_request", "paths must be an array of artifact paths");
    std::vector<std::string> paths;
    for (const auto& v : p->as_array()) {
      if (!v.is_string() || !playback::parse_playback_target("/v/" + *asset + "/" + std::string(v.as_string())))
        return http::Response::error(400, "invalid_request", "paths must name artifacts, e.g. \"720p/seg_00000.ts\"");
      paths.emplace_back(v.as_string());
    }
    for (const auto& path : paths) warm_one(path);
  } else {
    if (!warm_one("master.m3u8")) return http::Response::error(404, "not_found", "asset has no master playlist");
    for (const auto& variant : uris_of(text_of("master.m3u8"))) {
      if (!playback::parse_playback_target("/v/" + *asset + "/" + variant)) continue;
      if (!warm_one(variant)) continue;
      auto dir = variant.substr(0, variant.rfind('/') + 1);
      auto segs = uris_of(text_of(variant));
      for (size_t i = 0; i < segs.size() && i < 2; ++i)
        if (playback::parse_playback_target("/v/" + *asset + "/" + dir + segs[i])) warm_one(dir + segs[i]);
    }
  }
  return http::Response::json(200, "{\"asset_id\":\"" + *asset + "\",\"warmed\":" + std::to_string(warmed) +
                                       ",\"attempted\":" + std::to_string(attempted) +
                                       ",\"limit\":" + std::to_string(budget) + "}");
}

// One render_metric line per metric: a table of names, help texts and values (the same
// shape as the telemetry block in roles.cpp), not repeated logic.
http::Response metrics(const EdgeDeps& d) {
  std::string out;
  out.reserve(4096);
  d.metrics.render(out);
  auto c = d.cache.stats();
  render_metric(out, "rend_edge_cache_bytes", "gauge", "Bytes of complete objects in the disk cache.", double(c.bytes));
  render_metric(out, "rend_edge_cache_objects", "gauge", "Objects in the disk cache.", double(c.objects));
  render_metric(out, "rend_edge_origin_requests_total", "counter", "Origin fetches started (one per coalesced fill).",
                double(c.origin_requests_total));
  render_metric(out, "rend_edge_fills_in_flight", "gauge", "Origin fetches running now.", double(c.in_flight_fills));
  render_metric(out, "rend_edge_fill_failures_total", "counter", "Fills that failed (origin error, short body).",
                double(c.fill_failures_total));
  render_metric(out, "rend_edge_coalesced_waiters_total", "counter",
                "Misses that joined a fill already in flight instead of fetching again.",
                double(c.coalesced_waiters_total));
  render_metric(out, "rend_edge_fill_busy_total", "counter",
                "Misses refused with 503 because every fill slot stayed taken.", double(c.busy_total));
  render_metric(out, "rend_edge_fill_no_space_total", "counter",
                "Misses refused with 503 because the cache's disk could not reserve the object.",
                double(c.no_space_total));
  render_metric(out, "rend_edge_cache_evictions_total", "counter", "Objects evicted from the disk cache.",
                double(c.evictions_total));
  render_metric(out, "rend_edge_cache_evicted_bytes_total", "counter", "Bytes evicted from the disk cache.",
                double(c.evicted_bytes_total));
  render_metric(out, "rend_edge_negative_cache_hits_total", "counter",
                "Misses answered 404 from the negative cache, without an origin fetch.", double(c.negative_hits_total));
  render_metric(out, "rend_edge_cache_floor_unfixable_total", "counter",
                "Times the free-space floor was missed but the cache alone could not restore it (nothing evicted).",
                double(c.floor_unfixable_total));
  if (d.thumbnails) {
    auto t = d.thumbnails->stats();
    render_metric(out, "rend_edge_thumbnail_renders_total", "counter",
                  "ffmpeg runs rendering /v/{id}/thumbnail.jpg (one per cached thumbnail, however many asked).",
                  double(t.renders_total));
    render_metric(out, "rend_edge_thumbnail_render_failures_total", "counter",
                  "Thumbnail renders that made no picture (ffmpeg error or timeout).", double(t.render_failures_total));
    render_metric(out, "rend_edge_thumbnail_busy_total", "counter",
                  "Thumbnail renders refused: too many waiting, or no ffmpeg slot in time.", double(t.busy_total));
    render_metric(out, "rend_edge_thumbnail_waiting", "gauge", "Thumbnail renders waiting for an ffmpeg slot now.",
                  double(t.waiting));
  }
  if (d.render_extra_metrics) d.render_extra_metrics(out);
  return http::Response::text(200, std::move(out), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

namespace {
// The origin part of /readyz. A probe that cannot connect or answer within the
// timeout counts as down, so a black-holed origin never hangs the readiness check.
bool origin_ready(const EdgeDeps& d) {
  if (d.cfg.origin_health_url.empty()) return d.origin.health().ok;
  http::ClientRequest req;
  req.url = d.cfg.origin_health_url;
  req.timeout = std::chrono::milliseconds(2000);
  return http::send(req).ok();
}
}  // namespace

std::shared_ptr<http::Router> make_router(const EdgeDeps& d, Surface surface) {
  if (!d.thumbnails) {
    // Stateless and thread-safe; outlives every Thumbnailer.
    static core::PosixProcessRunner runner;
    ThumbnailerOptions o;
    o.ffmpeg_path = d.cfg.ffmpeg_path;
    o.work_dir = d.cfg.cache_dir + "/tmp";  // emptied by the cache at start, like partial fills
    o.playlist_max_age_ms = static_cast<int64_t>(d.cfg.playlist_ttl_secs) * 1000;
    d.thumbnails = std::make_shared<Thumbnailer>(o, d.cache, d.origin, runner);
  }
  auto r = std::make_shared<http::Router>();
  http::RouteOptions hot;
  hot.inline_handler = true;  // hits never block; misses come back as Response::blocking()
  if (surface != Surface::internal_only) {
    r->add(
        "GET", "/v/{asset}/{path*}", [&d](http::Request& q) { return serve_artifact(d, q); }, hot);
  }
  if (surface != Surface::public_only) {
    http::RouteOptions checked;  // the token before the body
    checked.before_body = [&d](const http::Request& q) -> std::optional<http::Response> {
      if (!internal_authorized(d, q)) return http::Response::error(401, "unauthorized", "internal token required");
      return std::nullopt;
    };
    r->add(
        "POST", "/internal/purge", [&d](http::Request& q) { return purge(d, q); }, checked);
    r->add(
        "POST", "/internal/warm", [&d](http::Request& q) { return warm(d, q); }, checked);
    r->add("GET", "/metrics", [&d](http::Request&) { return metrics(d); });
  }
  r->add("GET", "/healthz", [](http::Request&) { return http::Response::json(200, "{\"ok\":true}"); });
  r->add("GET", "/readyz", [&d](http::Request&) {
    bool cache_ok = d.cache.writable();
    bool origin_ok = origin_ready(d);
    bool ok = cache_ok && origin_ok;
    return http::Response::json(ok ? 200 : 503, std::string("{\"ready\":") + (ok ? "true" : "false") +
                                                    ",\"checks\":{\"cache_dir\":\"" +
                                                    (cache_ok ? "ok" : "not writable") + "\",\"origin\":\"" +
                                                    (origin_ok ? "ok" : "down") + "\"}}");
  });
  return r;
}

namespace {
// Why a viewer response is not playback (see Unbilled).
Unbilled unbilled_reason(std::string_view method, int status) {
  if (method == "OPTIONS") return Unbilled::preflight;
  switch (status) {
    case 200:
    case 206: return method == "HEAD" ? Unbilled::head : Unbilled::no_body;
    case 304: return Unbilled::not_modified;
    case 400: return Unbilled::bad_request;
    case 401: return Unbilled::unauthorized;
    case 403: return Unbilled::forbidden;
    case 404: return Unbilled::not_found;
    case 405: return Unbilled::method_not_allowed;
    case 413: return Unbilled::body_too_large;
    case 416: return Unbilled::range_not_satisfiable;
    default: return Unbilled::error;
  }
}
}  // namespace

// A v1 credential has no session id: its HMAC stands in for one. Remembered per
// thread (bounded) because an HMAC per response costs more than serving a playlist.
// The view is valid until the next call on this thread.
std::string_view v1_session_id(const EdgeDeps& d, std::string_view token) {
  // Keyed by the key set's id, not by the deps' address (which a later edge may reuse).
  thread_local std::unordered_map<std::string, std::pair<uint64_t, std::string>, StringHash, std::equal_to<>> memo;
  if (auto it = memo.find(token); it != memo.end() && it->second.first == d.keys.id()) return it->second.second;
  auto sid = core::hex_encode(core::hmac_sha256(d.cfg.common.signing_secret, token).substr(0, 12));
  if (memo.size() >= 8192) memo.clear();
  return memo.insert_or_assign(std::string(token), std::pair<uint64_t, std::string>{d.keys.id(), std::move(sid)})
      .first->second.second;
}

namespace {
std::string_view kind_name(playback::ArtifactKind k) {
  switch (k) {
    case playback::ArtifactKind::master: return "master";
    case playback::ArtifactKind::playlist: return "playlist";
    case playback::ArtifactKind::segment: return "segment";
    case playback::ArtifactKind::poster: return "poster";
    default: return "other";
  }
}

// The whole size from a Content-Range "bytes a-b/size"; 0 when absent or unparsable.
double content_range_total(std::optional<std::string_view> h) {
  if (!h) return 0;
  const auto slash = h->rfind('/');
  if (slash == std::string_view::npos) return 0;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(h->data() + slash + 1, h->data() + h->size(), v);
  return ec == std::errc() ? double(v) : 0;
}
}  // namespace

std::function<void(const http::ServerOptions::Completion&)> make_completion_hook(const EdgeDeps& d, EventSink sink) {
  return [&d, sink = std::move(sink)](const http::ServerOptions::Completion& c) {
    const auto& path = c.request.path;
    if (path.size() < 3 || path.compare(0, 3, "/v/") != 0) return;  // viewer responses only
    auto cache_hdr = c.response.headers.get("x-rend-cache");
    CacheResult cr = !cache_hdr ? CacheResult::none : (*cache_hdr == "HIT" ? CacheResult::hit : CacheResult::miss);
    d.metrics.record_response(c.response.status, cr, c.body_bytes, c.complete);
    // Only served media is playback: a GET answered 200/206 that sent body bytes.
    // HEAD, the preflight, 304, refusals and errors are counted above and by reason
    // below, never in a customer's analytics or billing.
    const int status = c.response.status;
    const bool get = c.request.method == "GET";
    if (!get || (status != 200 && status != 206) || c.body_bytes == 0) {
      Unbilled why = unbilled_reason(c.request.method, status);
      d.metrics.record_unbilled(why);
      return;
    }
    if (!sink) return;
    const playback::ArtifactRef* ref = viewer_ref(path);
    if (!ref) return;  // not a playback path: nothing to attribute it to
    // Built in a per-thread event whose strings keep their storage from one response to
    // the next, and copied by the sink into the queue's reused slots: no allocation per
    // response once warmed up. Every field is assigned below (none left from the last).
    thread_local store::PlaybackEvent ev;
    ev.event_id.clear();  // the pipeline assigns it
    ev.batch_id.clear();
    ev.ts_ms = d.clock.now_unix_ms() -
               std::chrono::duration_cast<std::chrono::milliseconds>(c.finished - c.request.received).count();
    ev.edge_id.assign(d.cfg.edge_id);
    ev.region.assign(d.cfg.region);
    ev.asset_id.assign(ref->asset_id);
    ev.artifact.assign(ref->path);
    ev.kind.assign(kind_name(ref->kind));
    ev.tier.assign(ref->tier);
    // Views are distinct playback sessions: the session id a v2 credential carries
    // (one per player bootstrap), or for a v1 credential an HMAC of it (keyed by the
    // signing secret every edge shares). Never the credential itself. Only a 200/206
    // gets here, so the edge accepted this credential.
    ev.session_id.clear();
    {
      thread_local std::string storage;
      auto token = playback::presented_token(c.request.query_param_view("token", storage),
                                             c.request.cookie_view(playback::kCookieName));
      if (token && !token->empty()) {
        auto sid = auth::playback_token_session(*token);
        ev.session_id.assign(!sid.empty() ? sid : v1_session_id(d, *token));
      }
    }
    ev.status = c.response.status;
    ev.bytes = int64_t(c.body_bytes);
    ev.cache.assign(cr == CacheResult::hit ? "HIT" : "MISS");
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    ev.ttfb_ms = duration_cast<microseconds>(c.first_byte - c.request.received).count() / 1000;
    ev.duration_ms = duration_cast<microseconds>(c.finished - c.request.received).count() / 1000;
    // Delivered media time: the segment's EXTINF duration times the share of its
    // bytes actually sent (a range, or a response the viewer or origin cut short,
    // counts what was sent, not what Content-Length announced).
    ev.media_seconds = 0;
    if (ref->kind == playback::ArtifactKind::segment) {
      thread_local std::string key;
      key.assign("assets/").append(ev.asset_id).append("/").append(ev.artifact);
      double secs = d.cache.segment_seconds(key);
      double total = 0;  // bytes of the whole segment
      if (status == 206) {
        total = content_range_total(c.response.headers.get("content-range"));
      } else if (c.response.source) {
        total = double(c.response.source_length.value_or(0));
      } else {
        total = double(c.response.shared_body ? c.response.shared_body->size() : c.response.body.size());
      }
      ev.media_seconds = total > 0 ? secs * std::min(1.0, double(c.body_bytes) / total) : 0;
    }
    sink(ev);
  };
}

std::function<void(const http::Request&, http::Response&)> make_decorator(const Settings& cfg) {
  return [&cfg](const http::Request& req, http::Response& res) {
    res.headers.set("x-rend-edge-id", cfg.edge_id);
    res.headers.set("x-rend-region", cfg.region);
    http::apply_cors(cfg.cors_allowed_origins, req, res, "GET, HEAD, OPTIONS", "Range, Content-Type");
    // The router only knows the GET route (HEAD falls back to it; OPTIONS is answered
    // by the server), so its Allow would say "GET" alone.
    if (res.status == 405 && req.path.rfind("/v/", 0) == 0) res.headers.set("Allow", "GET, HEAD, OPTIONS");
  };
}

}  // namespace rend::edge
