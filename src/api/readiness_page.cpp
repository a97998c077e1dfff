// The readiness gate's operator page (issue 15): GET /internal/readiness renders the
// latest artifact (REND_READINESS_ARTIFACT_PATH) and the recent runs beside it. It is
// an operator view, so it takes an API key with the operator scope, the credential
// GET /metrics takes; the page itself never shows a URL, host or secret (the
// artifacts are redacted when written).
#include <fstream>
#include <sstream>

#include "api/common.h"
#include "auth/api_keys.h"
#include "core/crypto.h"
#include "readiness/page.h"

namespace rend::api {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  return ss.str();
}

// The page's one inline <style> block, allowed by its hash; nothing else may load.
std::string page_csp(const std::string& html) {
  auto open = html.find("<style>"), close = html.find("</style>");
  std::string style;
  if (open != std::string::npos && close != std::string::npos && close > open)
    style = " 'sha256-" + core::base64_encode(core::sha256(std::string_view(html).substr(open + 7, close - open - 7))) +
            "'";
  return "default-src 'none'; style-src" + style + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

http::Response page(const ApiDeps& d, const readiness::PageSettings& s, http::Request& req) {
  auto who = authenticate(d, req, auth::kOperatorScope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  auto tmpl = read_text(d.cfg.web_dir + "/readiness.html");
  if (tmpl.empty()) return http::Response::error(503, "asset_missing", "the readiness page is not installed (web/)");
  auto html = readiness::render_page(tmpl, read_text(s.artifact_path), readiness::read_history(s.runs_dir, 20));
  auto res = http::Response::text(200, std::move(html), "text/html; charset=utf-8");
  res.headers.set("Content-Security-Policy", page_csp(res.body));
  res.headers.set("Cache-Control", "no-store");
  res.headers.set("Referrer-Policy", "no-referrer");
  return res;
}

}  // namespace

void add_readiness_routes(http::Router& r, const ApiDeps& d) {
  if (!d.readiness) return;  // a hand-built router (tests) without the page's settings
  r.add("GET", "/internal/readiness", [&d](http::Request& q) { return page(d, *d.readiness, q); });
}

}  // namespace rend::api
