#include "readiness/runner.h"

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "core/crypto.h"
#include "core/json.h"

namespace rend::readiness {

std::string url_authority(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  auto start = scheme + 3;
  auto end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::duration<double, std::milli>;

std::optional<std::string> header(const http::ClientResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return std::nullopt;
}

std::vector<std::string> set_cookies(const http::ClientResponse& r) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.headers)
    if (k == "set-cookie") out.push_back(v);
  return out;
}

// Non-comment lines of a playlist (RFC 8216: URI lines).
std::vector<std::string> playlist_uris(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

// Unlabelled samples of a Prometheus text page.
std::optional<int64_t> metric(const std::string& text, std::string_view name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ' ') {
      try {
        return std::llround(std::stod(line.substr(name.size() + 1)));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// What a failed request says in a check: its status or transport error, never its URL.
std::string answer(const http::ClientResponse& r) {
  if (r.status == 0) return "no answer (" + r.error + ")";
  return "HTTP " + std::to_string(r.status);
}

std::optional<boost::json::object> json_object(const std::string& body) {
  auto v = core::parse_json_strict(body);
  if (!v || !v->is_object()) return std::nullopt;
  return v->as_object();
}

std::string str_field(const boost::json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double num_field(const boost::json::object& o, std::string_view k) {
  auto* v = o.if_contains(k);
  if (!v) return 0;
  if (v->is_int64()) return double(v->as_int64());
  if (v->is_uint64()) return double(v->as_uint64());
  if (v->is_double()) return v->as_double();
  return 0;
}

}  // namespace

struct Runner::Impl {
  Runner& r;
  Result res;
  std::string asset_id;
  std::string cookie;  // "rend_playback=..." as the bootstrap set it
  struct EdgeState {
    std::optional<int64_t> dropped0, rejected0;
    std::string segment_path;  // "{variant dir}/{first segment}", relative to /v/{asset}/
    std::string variant_path;
  };
  std::map<std::string, EdgeState> edge_state;
  int viewer_gets = 0;       // 200 GETs with a body on /v/: each should become one analytics request
  bool cleaning_up = false;  // cleanup's own waits are bounded and run to the end even after Ctrl-C

  bool interrupted() const { return !cleaning_up && r.cancelled_.load(); }

  explicit Impl(Runner& runner) : r(runner) {}

  const Settings& s() const { return r.s_; }
  void say(const std::string& line) { r.out_ << "readiness: " << line << std::endl; }

  void check(const std::string& name, const std::string& edge, bool ok, const std::string& detail) {
    res.checks.push_back({name, edge, ok, detail});
    say(std::string(ok ? "ok    " : "FAIL  ") + name + (edge.empty() ? "" : " [" + edge + "]") +
        (detail.empty() ? "" : ": " + detail));
  }
  void timing(const std::string& name, std::optional<double> ms) {
    for (auto& t : res.timings)
      if (t.name == name) {
        t.ms = ms;
        if (ms) say("time  " + name + " " + std::to_string(std::lround(*ms)) + " ms");
        return;
      }
  }
  EdgeResult& edge_result(const std::string& id) {
    for (auto& e : res.edges)
      if (e.id == id) return e;
    throw std::logic_error("unknown edge");
  }

  http::ClientResponse send(std::string method, std::string url,
                            std::vector<std::pair<std::string, std::string>> h = {}, std::string body = {},
                            std::chrono::milliseconds timeout = 15s) {
    http::ClientRequest q;
    q.method = std::move(method);
    q.url = std::move(url);
    q.headers = std::move(h);
    q.body = std::move(body);
    q.timeout = timeout;
    return r.send_(q);
  }
  std::vector<std::pair<std::string, std::string>> api_auth() const {
    return {{"Authorization", "Bearer " + s().api_key}};
  }
  std::vector<std::pair<std::string, std::string>> internal_auth() const {
    return {{"Authorization", "Bearer " + s().edge_internal_token}, {"Content-Type", "application/json"}};
  }
  double since(core::SteadyTime t) const { return Ms(r.clock_.steady_now() - t).count(); }

  // Polls `done` every `every` until it returns true or `bound` passed. True if done.
  template <class F>
  bool poll(std::chrono::milliseconds bound, F done, std::chrono::milliseconds every = 100ms) {
    auto deadline = r.clock_.steady_now() + bound;
    for (;;) {
      if (done()) return true;
      if (r.clock_.steady_now() >= deadline || interrupted()) return false;
      std::this_thread::sleep_for(every);
    }
  }

  // ---- 1. edges registered with a fresh heartbeat, /readyz 200 ----
  void edges_registered() {
    say("step 1/6: edge registry and readiness");
    auto api_ready = send("GET", s().api_base_url + "/readyz");
    check("api_ready", "", api_ready.status == 200, answer(api_ready));
    // An edge started moments ago registers with its first heartbeat: give every
    // expected edge a short while to appear before calling it missing.
    http::ClientResponse list;
    std::optional<boost::json::object> body;
    poll(
        10s,
        [&] {
          list = send("GET", s().api_base_url + "/internal/edges", internal_auth());
          body = list.status == 200 ? json_object(list.body) : std::nullopt;
          if (!body || !body->if_contains("data") || !body->at("data").is_array()) return list.status == 401;
          for (const auto& e : s().edges) {
            bool seen = false;
            for (const auto& v : body->at("data").as_array())
              seen = seen || (v.is_object() && str_field(v.as_object(), "edge_id") == e.id);
            if (!seen) return false;
          }
          return true;
        },
        200ms);
    if (!body || !body->if_contains("data") || !body->at("data").is_array()) {
      for (const auto& e : s().edges)
        check("edge_registered", e.id, false, "the registry did not answer (" + answer(list) + ")");
    } else {
      for (const auto& e : s().edges) {
        const boost::json::object* rec = nullptr;
        for (const auto& v : body->at("data").as_array())
          if (v.is_object() && str_field(v.as_object(), "edge_id") == e.id) rec = &v.as_object();
        if (!rec) {
          check("edge_registered", e.id, false, "not in the edge registry");
          continue;
        }
        bool active = rec->if_contains("active") && rec->at("active").is_bool() && rec->at("active").as_bool();
        bool region = str_field(*rec, "region") == e.region;
        // Another process registered under this id (warm and purge would go there):
        // the registered base must be one of the edge's configured ones.
        auto base = str_field(*rec, "base_url");
        while (!base.empty() && base.back() == '/') base.pop_back();
        bool same = base == e.public_base || base == e.private_base;
        check("edge_registered", e.id, active && region && same,
              !region  ? "registered with another region"
              : !same  ? "registered with a base URL that is not the edge's public or private base"
              : active ? "fresh heartbeat"
                       : "heartbeat is stale");
      }
    }
    for (const auto& e : s().edges) {
      auto ready = send("GET", e.private_base + "/readyz", {}, {}, 5s);
      check("edge_ready", e.id, ready.status == 200, "readyz " + answer(ready));
    }
  }

  // ---- 2. a generated clip, uploaded, until playable and hls_ready ----
  bool upload() {
    say("step 2/6: generate a clip with ffmpeg and upload it");
    const std::string clip = r.work_dir_ + "/readiness-clip.mp4";
    core::ProcessOptions po;
    po.timeout = 60s;
    po.capture_stdout = false;
    po.should_cancel = [this] { return interrupted(); };
    auto gen = r.ffmpeg_.run({"ffmpeg",
                              "-hide_banner",
                              "-loglevel",
                              "error",
                              "-y",
                              "-f",
                              "lavfi",
                              "-i",
                              "testsrc=size=320x240:rate=25:duration=4",
                              "-f",
                              "lavfi",
                              "-i",
                              "sine=frequency=440:sample_rate=44100:duration=4",
                              "-c:v",
                              "libx264",
                              "-preset",
                              "veryfast",
                              "-pix_fmt",
                              "yuv420p",
                              "-g",
                              "50",
                              "-c:a",
                              "aac",
                              "-b:a",
                              "64k",
                              "-shortest",
                              "-movflags",
                              "+faststart",
                              clip},
                             po);
    std::string media;
    if (gen.exit_code == 0) {
      std::ifstream in(clip, std::ios::binary);
      media.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::error_code ec;
    std::filesystem::remove(clip, ec);
    check("media_generated", "", !media.empty(),
          media.empty() ? "ffmpeg failed (exit " + std::to_string(gen.exit_code) + ")"
                        : std::to_string(media.size()) + " bytes, 4 s H.264/AAC test pattern");
    if (media.empty()) return false;

    auto created = send("POST", s().api_base_url + "/v1/uploads",
                        {{"Authorization", "Bearer " + s().api_key}, {"Content-Type", "application/json"}},
                        R"({"visibility":"public","size_bytes":)" + std::to_string(media.size()) + "}");
    auto cbody = created.status == 201 ? json_object(created.body) : std::nullopt;
    std::string upload_url = cbody ? str_field(*cbody, "upload_url") : "";
    if (cbody) asset_id = str_field(*cbody, "asset_id");
    if (upload_url.empty() || asset_id.empty()) {
      check("upload_created", "", false, "POST /v1/uploads: " + answer(created));
      return false;
    }
    r.secrets_.push_back(url_authority(upload_url));
    check("upload_created", "", true, "asset " + asset_id);

    auto put_start = r.clock_.steady_now();
    auto put = send("PUT", upload_url, {{"Authorization", "Bearer " + s().api_key}, {"Content-Type", "video/mp4"}},
                    std::move(media), 120s);
    timing("upload_response", put.ok() ? std::optional(since(put_start)) : std::nullopt);
    check("upload_accepted", "", put.ok(), "PUT upload: " + answer(put));
    if (!put.ok()) return false;
    auto uploaded = r.clock_.steady_now();

    std::optional<double> playable_ms, ready_ms;
    std::string last = "unknown", error_code;
    auto bound = std::chrono::milliseconds(s().limit("upload_to_hls_ready").fail_ms);
    poll(bound, [&] {
      auto a = send("GET", s().api_base_url + "/v1/assets/" + asset_id, api_auth());
      auto o = a.status == 200 ? json_object(a.body) : std::nullopt;
      if (!o) return false;
      last = str_field(*o, "status");
      if ((last == "playable" || last == "hls_ready") && !playable_ms) playable_ms = since(uploaded);
      if (last == "hls_ready") ready_ms = since(uploaded);
      if (last == "failed" && o->if_contains("error") && o->at("error").is_object())
        error_code = str_field(o->at("error").as_object(), "code");
      return last == "hls_ready" || last == "failed";
    });
    timing("upload_to_opener_playable", playable_ms);
    timing("upload_to_hls_ready", ready_ms);
    check("asset_playable", "", playable_ms.has_value(), "status " + last);
    check("asset_hls_ready", "", ready_ms.has_value(),
          "status " + last + (error_code.empty() ? "" : " (" + error_code + ")"));
    return ready_ms.has_value();
  }

  // ---- 3. player bootstrap: tokenless direct edge URLs, HttpOnly cookie on /v/{id}/ ----
  bool bootstrap() {
    say("step 3/6: player bootstrap");
    auto t0 = r.clock_.steady_now();
    auto b = send("GET", s().api_base_url + "/api/player/" + asset_id);
    auto o = b.status == 200 ? json_object(b.body) : std::nullopt;
    timing("playback_bootstrap", o ? std::optional(since(t0)) : std::nullopt);
    check("bootstrap_answered", "", o.has_value(), answer(b));
    if (!o) return false;
    std::vector<std::string> urls;
    if (auto* u = o->if_contains("urls"); u && u->is_object())
      for (const auto& [k, v] : u->as_object())
        if (v.is_string()) urls.emplace_back(v.as_string());
    for (const auto& u : urls) r.secrets_.push_back(url_authority(u));
    bool tokenless = !urls.empty();
    for (const auto& u : urls)
      if (u.find_first_of("?#") != std::string::npos || u.find("token") != std::string::npos) tokenless = false;
    check("bootstrap_urls_tokenless", "", tokenless,
          urls.empty() ? "no playback URLs"
          : tokenless  ? "no query, no token"
                       : "a playback URL carries a query or token");
    std::string via;
    bool on_edge = !urls.empty();
    for (const auto& u : urls) {
      bool found = false;
      for (const auto& e : s().edges)
        if (u.rfind(e.public_base + "/v/" + asset_id + "/", 0) == 0) {
          found = true;
          via = e.id;
        }
      on_edge = on_edge && found;
    }
    check("bootstrap_urls_on_configured_edge", "", on_edge,
          on_edge ? "direct URLs on " + via : "a playback URL is not on a configured edge's public base");
    // The cookie: HttpOnly, scoped to the asset's path on the edge.
    std::string set;
    for (const auto& c : set_cookies(b))
      if (c.rfind("rend_playback=", 0) == 0) set = c;
    bool http_only = set.find("; HttpOnly") != std::string::npos;
    bool path_ok = set.find("; Path=/v/" + asset_id + "/") != std::string::npos;
    if (!set.empty()) {
      cookie = set.substr(0, set.find(';'));
      r.secrets_.push_back(cookie);
      r.secrets_.push_back(cookie.substr(cookie.find('=') + 1));
    }
    check("bootstrap_cookie_shape", "", !set.empty() && http_only && path_ok,
          set.empty()  ? "no playback cookie"
          : !http_only ? "the playback cookie is not HttpOnly"
          : !path_ok   ? "the playback cookie is not scoped to /v/{asset}/"
                       : "HttpOnly, Path=/v/{asset}/");
    return !cookie.empty();
  }

  // ---- 4. MISS, HIT, warmed HIT on every edge ----
  struct Fetch {
    http::ClientResponse res;
    double ttfb_ms = 0;
  };
  Fetch viewer_get(const EdgeTarget& e, const std::string& path) {
    Fetch f;
    f.res = send("GET", e.public_base + "/v/" + asset_id + "/" + path, {{"Cookie", cookie}}, {}, 15s);
    f.ttfb_ms = Ms(f.res.ttfb).count();
    if (f.res.status == 200 && !f.res.body.empty()) viewer_gets++;
    return f;
  }
  bool purge(const EdgeTarget& e) {
    auto p = send("POST", e.private_base + "/internal/purge", internal_auth(), R"({"asset_id":")" + asset_id + R"("})");
    return p.status == 200;
  }
  std::string telemetry_metrics(const EdgeTarget& e) {
    auto m = send("GET", e.private_base + "/metrics", internal_auth(), {}, 5s);
    return m.status == 200 ? m.body : std::string();
  }

  void edge_playback(const EdgeTarget& e) {
    auto& st = edge_state[e.id];
    auto& er = edge_result(e.id);
    auto m0 = telemetry_metrics(e);
    st.dropped0 = metric(m0, "rend_edge_telemetry_dropped_total");
    st.rejected0 = metric(m0, "rend_edge_telemetry_rejected_total");

    // Headers every edge answer must carry, checked on each fetch below.
    std::string header_problem;
    auto headers_ok = [&](const Fetch& f, std::string_view what) {
      if (header(f.res, "x-rend-edge-id") != e.id)
        header_problem = std::string(what) + ": x-rend-edge-id is not the edge's id";
      else if (header(f.res, "x-rend-region") != e.region)
        header_problem = std::string(what) + ": x-rend-region is not the edge's region";
      else if (!header(f.res, "x-rend-cache")) header_problem = std::string(what) + ": no x-rend-cache";
    };
    auto content_type = [](const Fetch& f) { return header(f.res, "content-type").value_or(""); };

    // The worker warmed every registered edge at hls_ready: start from an empty cache.
    bool purged = purge(e);
    auto master = viewer_get(e, "master.m3u8");
    headers_ok(master, "master.m3u8");
    auto variants = playlist_uris(master.res.body);
    bool master_ok = master.res.status == 200 && content_type(master).find("mpegurl") != std::string::npos &&
                     !variants.empty() && variants[0].find("://") == std::string::npos &&
                     variants[0].find('?') == std::string::npos;
    std::string segment;
    if (master_ok) {
      st.variant_path = variants[0];
      auto variant = viewer_get(e, st.variant_path);
      headers_ok(variant, "variant playlist");
      auto segs = playlist_uris(variant.res.body);
      if (variant.res.status == 200 && !segs.empty() && segs[0].find("://") == std::string::npos &&
          segs[0].find('?') == std::string::npos) {
        auto slash = st.variant_path.rfind('/');
        st.segment_path = (slash == std::string::npos ? "" : st.variant_path.substr(0, slash + 1)) + segs[0];
      } else {
        master_ok = false;
      }
    }
    check("edge_playlists", e.id, purged && master_ok,
          !purged     ? "internal purge refused"
          : master_ok ? "master and variant playlists, relative tokenless URIs"
                      : "master " + answer(master.res) + ", playlists unusable");
    if (!master_ok) return;

    // MISS: a purge right before, in case a late warm from the worker landed meanwhile.
    Fetch miss;
    // The variant playlist again after each purge: the edge learns a segment's media
    // duration from the playlist that went through its cache (delivered minutes).
    for (int attempt = 0; attempt < 3; ++attempt) {
      purge(e);
      viewer_get(e, st.variant_path);
      miss = viewer_get(e, st.segment_path);
      if (header(miss.res, "x-rend-cache") == "MISS") break;
    }
    headers_ok(miss, "segment");
    bool media_type = content_type(miss).rfind("video/", 0) == 0;
    bool miss_ok = miss.res.status == 200 && header(miss.res, "x-rend-cache") == "MISS" && media_type;
    if (miss_ok) er.ttfb_miss_ms = miss.ttfb_ms;
    check("edge_miss", e.id, miss_ok,
          miss_ok ? "200 MISS " + content_type(miss)
                  : answer(miss.res) + " x-rend-cache " + header(miss.res, "x-rend-cache").value_or("none") +
                        (media_type ? "" : ", not a video content type"));

    auto hit = viewer_get(e, st.segment_path);
    headers_ok(hit, "segment");
    bool hit_ok = hit.res.status == 200 && header(hit.res, "x-rend-cache") == "HIT" &&
                  hit.res.body.size() == miss.res.body.size();
    if (hit_ok) er.ttfb_hit_ms = hit.ttfb_ms;
    check("edge_hit", e.id, hit_ok,
          hit_ok ? "200 HIT, same length as the miss"
                 : answer(hit.res) + " x-rend-cache " + header(hit.res, "x-rend-cache").value_or("none"));

    // Warmed: purge, ask the edge to warm exactly this segment, then a viewer's first GET hits.
    bool purged_again = purge(e);
    auto warm = send("POST", e.private_base + "/internal/warm", internal_auth(),
                     R"({"asset_id":")" + asset_id + R"(","paths":[")" + st.variant_path + R"(",")" + st.segment_path +
                         R"("]})",
                     30s);
    auto wo = warm.status == 200 ? json_object(warm.body) : std::nullopt;
    bool warmed = purged_again && wo && num_field(*wo, "warmed") >= 2;
    auto whit = viewer_get(e, st.segment_path);
    headers_ok(whit, "segment");
    bool whit_ok = warmed && whit.res.status == 200 && header(whit.res, "x-rend-cache") == "HIT";
    if (whit_ok) er.ttfb_warmed_hit_ms = whit.ttfb_ms;
    check("edge_warmed_hit", e.id, whit_ok,
          !warmed   ? "internal warm " + answer(warm) + " did not warm the segment"
          : whit_ok ? "200 HIT after /internal/warm"
                    : answer(whit.res) + " x-rend-cache " + header(whit.res, "x-rend-cache").value_or("none"));
    check("edge_headers", e.id, header_problem.empty(),
          header_problem.empty() ? "x-rend-edge-id, x-rend-region, x-rend-cache on every answer" : header_problem);
  }

  void edges_playback() {
    say("step 4/6: MISS, HIT and warmed HIT on every edge");
    for (const auto& e : s().edges)
      if (!interrupted()) edge_playback(e);
    // The overall edge timings are the slowest edge's. An edge that could not be
    // measured has a failed check of its own already; it does not hide the others' times.
    auto slowest = [&](std::optional<double> EdgeResult::*field) -> std::optional<double> {
      std::optional<double> out;
      for (const auto& e : res.edges)
        if (e.*field) out = std::max(out.value_or(0), *(e.*field));
      return out;
    };
    timing("edge_ttfb_miss", slowest(&EdgeResult::ttfb_miss_ms));
    timing("edge_ttfb_hit", slowest(&EdgeResult::ttfb_hit_ms));
    timing("edge_ttfb_warmed_hit", slowest(&EdgeResult::ttfb_warmed_hit_ms));
  }

  // ---- 5. telemetry visible in analytics, nothing dropped, spools empty ----
  void telemetry() {
    say("step 5/6: telemetry reaches analytics");
    auto t0 = r.clock_.steady_now();
    double requests = 0, bytes = 0, minutes = 0;
    std::string last = "no answer";
    bool seen = viewer_gets > 0 &&
                poll(
                    std::chrono::milliseconds(s().limit("telemetry_visibility").fail_ms),
                    [&] {
                      auto a = send("GET", s().api_base_url + "/v1/analytics/assets/" + asset_id, api_auth());
                      last = answer(a);
                      auto o = a.status == 200 ? json_object(a.body) : std::nullopt;
                      if (!o) return false;
                      requests = num_field(*o, "requests");
                      bytes = num_field(*o, "bytes");
                      minutes = 0;
                      if (auto* dm = o->if_contains("delivered_minutes"); dm && dm->is_object())
                        for (const auto& [tier, v] : dm->as_object())
                          minutes += v.is_double() ? v.as_double() : v.is_int64() ? double(v.as_int64()) : 0;
                      return requests >= viewer_gets;
                    },
                    200ms);
    timing("telemetry_visibility", seen ? std::optional(since(t0)) : std::nullopt);
    check("telemetry_visible", "", seen,
          std::to_string(std::lround(requests)) + " of " + std::to_string(viewer_gets) +
              " viewer requests in analytics (" + last + ")");
    if (seen && minutes > 0) res.bytes_per_delivered_minute_proxy = bytes / minutes;

    for (const auto& e : s().edges) {
      auto& st = edge_state[e.id];
      auto& er = edge_result(e.id);
      std::string m;
      // Spooled batches are replayed once the API answers: give them the same bound.
      poll(
          5s,
          [&] {
            m = telemetry_metrics(e);
            auto spool = metric(m, "rend_edge_telemetry_spool_bytes");
            return spool && *spool == 0;
          },
          200ms);
      auto dropped = metric(m, "rend_edge_telemetry_dropped_total");
      auto rejected = metric(m, "rend_edge_telemetry_rejected_total");
      er.telemetry_spool_bytes = metric(m, "rend_edge_telemetry_spool_bytes");
      if (dropped && st.dropped0) er.telemetry_dropped_delta = *dropped - *st.dropped0;
      if (rejected && st.rejected0) er.telemetry_rejected_delta = *rejected - *st.rejected0;
      bool known = er.telemetry_dropped_delta && er.telemetry_rejected_delta && er.telemetry_spool_bytes;
      bool ok = known && *er.telemetry_dropped_delta == 0 && *er.telemetry_rejected_delta == 0 &&
                *er.telemetry_spool_bytes == 0;
      check("edge_telemetry_delivered", e.id, ok,
            !known ? "the edge's /metrics did not report its telemetry counters"
                   : "dropped +" + std::to_string(*er.telemetry_dropped_delta) + ", rejected +" +
                         std::to_string(*er.telemetry_rejected_delta) + ", spool " +
                         std::to_string(*er.telemetry_spool_bytes) + " bytes");
    }
  }

  // ---- 6. cleanup: delete the asset, edges purged ----
  void cleanup() {
    cleaning_up = true;
    if (asset_id.empty()) return;
    say("step 6/6: delete the synthetic asset and check the edges purged it");
    auto d = send("DELETE", s().api_base_url + "/v1/assets/" + asset_id, api_auth());
    check("cleanup_deleted", "", d.ok(), "DELETE asset: " + answer(d));
    auto g = send("GET", s().api_base_url + "/v1/assets/" + asset_id, api_auth());
    auto o = g.status == 200 ? json_object(g.body) : std::nullopt;
    bool gone = g.status == 404 || (o && str_field(*o, "status") == "deleted");
    check("cleanup_asset_gone", "", gone, "asset read after delete: " + answer(g));
    for (const auto& e : s().edges) {
      const auto& st = edge_state[e.id];
      if (st.segment_path.empty() || cookie.empty()) continue;  // nothing was cached there by this run
      http::ClientResponse last;
      bool purged = poll(10s, [&] {
        last = send("GET", e.public_base + "/v/" + asset_id + "/" + st.segment_path, {{"Cookie", cookie}}, {}, 5s);
        return last.status == 404 || last.status == 410;
      });
      check("cleanup_edge_purged", e.id, purged, "segment after delete: " + answer(last));
    }
  }
};

Runner::Runner(const Settings& s, Transport send, core::ProcessRunner& ffmpeg, const core::Clock& clock,
               std::ostream& progress, std::string work_dir)
    : s_(s), send_(std::move(send)), ffmpeg_(ffmpeg), clock_(clock), out_(progress), work_dir_(std::move(work_dir)) {
  secrets_ = {s.api_key, s.edge_internal_token, url_authority(s.api_base_url)};
  for (const auto& e : s.edges) {
    secrets_.push_back(url_authority(e.public_base));
    secrets_.push_back(url_authority(e.private_base));
  }
}

Result Runner::run(const std::string& target) {
  Impl m(*this);
  m.res.run_id = core::hex_encode(core::random_bytes(6));
  m.res.target = target;
  m.res.started_at_ms = clock_.now_unix_ms();
  for (const auto* name : kTimingNames) m.res.timings.push_back({name, std::nullopt, s_.limit(name)});
  for (const auto& e : s_.edges) m.res.edges.push_back({e.id, e.region, {}, {}, {}, {}, {}, {}});
  try {
    m.edges_registered();
    if (!m.interrupted() && m.upload() && !m.interrupted() && m.bootstrap() && !m.interrupted()) {
      m.edges_playback();
      if (!m.interrupted()) m.telemetry();
    }
    if (m.interrupted()) m.check("run_interrupted", "", false, "stopped by a signal before every step ran");
  } catch (const std::exception&) {
    // The message may carry anything (a path, a URL): record only that it happened.
    m.check("run_completed", "", false, "the run stopped on an unexpected error");
  }
  try {
    m.cleanup();
  } catch (const std::exception&) {
    m.check("cleanup_completed", "", false, "cleanup stopped on an unexpected error");
  }
  m.res.finished_at_ms = clock_.now_unix_ms();
  return std::move(m.res);
}

}  // namespace rend::readiness
