// The watch page and the hls.js build it loads, served from disk (web/ and
// node_modules/ of the checkout, or REND_WEB_DIR / REND_HLSJS_PATH).
#include <fstream>
#include <set>
#include <sstream>

#include "api/common.h"
#include "core/crypto.h"
#include "core/ids.h"

namespace rend::api {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

http::Response static_file(const std::string& path, const std::string& type, const std::string& what) {
  auto body = read_file(path);
  if (!body)
    return http::Response::error(503, "asset_missing", what + " is not installed (run `make build` or `npm ci`)");
  auto r = http::Response::text(200, std::move(*body), type);
  r.headers.set("Cache-Control", "public, max-age=300");
  return r;
}

// "'sha256-<standard base64>'" of `text`, the CSP source expression that allows
// exactly this inline block.
std::string csp_hash(std::string_view text) { return "'sha256-" + core::base64_encode(core::sha256(text)) + "'"; }

// Hashes of every `<tag>…</tag>` block (attribute-less opening tag, as in web/).
std::string inline_hashes(const std::string& html, const std::string& tag) {
  std::string open = "<" + tag + ">", close = "</" + tag + ">", out;
  for (size_t at = html.find(open); at != std::string::npos; at = html.find(open, at)) {
    size_t start = at + open.size(), end = html.find(close, start);
    if (end == std::string::npos) break;
    out += " " + csp_hash(std::string_view(html).substr(start, end - start));
    at = end + close.size();
  }
  return out;
}

// scheme://host[:port] of an http(s) URL; empty for anything else.
std::string origin_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    return {};
  auto end = url.find_first_of("/?#", scheme + 3);
  return url.substr(0, end);
}

// The media origins the page may talk to: every edge the player bootstrap can
// return (route table, overrides, fallback, the local playback URL) and the API's
// public URL (the legacy artifact route). Fixed at startup, so computed once.
std::string edge_sources(const ApiDeps& d) {
  std::set<std::string> origins;
  auto add = [&](const std::string& url) {
    if (auto o = origin_of(url); !o.empty()) origins.insert(o);
  };
  for (const auto& route : d.routing.table.routes) add(route.base_url);
  for (const auto& [id, url] : d.routing.selection.base_url_overrides) add(url);
  add(d.routing.selection.fallback_base_url);
  add(d.cfg.playback_base_url);
  add(d.cfg.public_base_url);
  std::string out;
  for (const auto& o : origins) out += " " + o;
  return out;
}

// The watch page runs only its own inline blocks (by hash) and scripts from the
// API's origin (hls.js); it talks only to the API and the edges; it is embeddable.
std::string watch_csp(const std::string& html, const std::string& edges) {
  return "default-src 'none'; script-src 'self'" + inline_hashes(html, "script") + "; style-src" +
         inline_hashes(html, "style") + "; connect-src 'self'" + edges + "; media-src 'self' blob:" + edges +
         "; img-src 'self' data:" + edges +
         "; worker-src blob:; base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors *";
}

}  // namespace

void add_web_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/watch/{id}", [&d, edges = edge_sources(d)](http::Request& q) {
    if (!core::is_valid_id(q.params["id"])) return http::Response::error(404, "not_found", "no such asset");
    auto res = static_file(d.cfg.web_dir + "/watch.html", "text/html; charset=utf-8", "the watch page");
    res.headers.set("Cache-Control", "no-cache");
    if (res.status == 200) res.headers.set("Content-Security-Policy", watch_csp(res.body, edges));
    return res;
  });
  // The upload page (issue 13): a direct-upload tus URL in its fragment, tus-js-client
  // from the API's origin, the upload to the API itself.
  r.add("GET", "/upload", [&d](http::Request&) {
    auto res = static_file(d.cfg.web_dir + "/upload.html", "text/html; charset=utf-8", "the upload page");
    res.headers.set("Cache-Control", "no-cache");
    if (res.status == 200)
      res.headers.set("Content-Security-Policy", "default-src 'none'; script-src 'self'" +
                                                     inline_hashes(res.body, "script") + "; style-src" +
                                                     inline_hashes(res.body, "style") +
                                                     "; connect-src 'self'; img-src data:; base-uri 'none';"
                                                     " form-action 'none'; object-src 'none'; frame-ancestors 'none'");
    return res;
  });
  r.add("GET", "/static/tus.min.js", [&d](http::Request&) {
    return static_file(d.cfg.tusjs_path, "text/javascript; charset=utf-8", "tus-js-client");
  });
  r.add("GET", "/static/hls.min.js",
        [&d](http::Request&) { return static_file(d.cfg.hlsjs_path, "text/javascript; charset=utf-8", "hls.js"); });
}

}  // namespace rend::api
