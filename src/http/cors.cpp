#include "http/cors.h"

#include <algorithm>

namespace rend::http {

void apply_cors(const std::vector<std::string>& allowed_origins, const Request& req, Response& res,
                std::string_view methods, std::string_view allow_headers, std::string_view expose_headers) {
  auto origin = req.header("origin");
  if (!origin) return;
  auto vary = res.headers.get("vary");
  if (!vary) res.headers.set("Vary", "Origin");
  else if (vary->find("Origin") == std::string_view::npos) res.headers.set("Vary", std::string(*vary) + ", Origin");
  bool ok = std::find(allowed_origins.begin(), allowed_origins.end(), *origin) != allowed_origins.end();
  if (!ok) return;
  res.headers.set("Access-Control-Allow-Origin", std::string(*origin));
  res.headers.set("Access-Control-Allow-Credentials", "true");
  if (req.method == "OPTIONS" && req.header("access-control-request-method")) {
    res.headers.set("Access-Control-Allow-Methods", std::string(methods));
    res.headers.set("Access-Control-Allow-Headers", std::string(allow_headers));
    res.headers.set("Access-Control-Max-Age", "600");
  } else {
    res.headers.set("Access-Control-Expose-Headers", std::string(expose_headers));
  }
}

}  // namespace rend::http
