// The watch page and the hls.js build it loads, served from disk (web/ and
// node_modules/ of the checkout, or REND_WEB_DIR / REND_HLSJS_PATH).
#include <fstream>
#include <sstream>

#include "api/common.h"
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

}  // namespace

void add_web_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/watch/{id}", [&d](http::Request& q) {
    if (!core::is_valid_id(q.params["id"])) return http::Response::error(404, "not_found", "no such asset");
    auto res = static_file(d.cfg.web_dir + "/watch.html", "text/html; charset=utf-8", "the watch page");
    res.headers.set("Cache-Control", "no-cache");
    return res;
  });
  r.add("GET", "/static/hls.min.js", [&d](http::Request&) {
    return static_file(d.cfg.hlsjs_path, "text/javascript; charset=utf-8", "hls.js");
  });
}

}  // namespace rend::api
