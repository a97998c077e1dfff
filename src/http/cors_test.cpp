#include "http/cors.h"

#include <gtest/gtest.h>

using namespace rend::http;

namespace {
Response run(const std::vector<std::string>& allowed, const std::string& method, const char* origin,
             bool preflight = false) {
  Request req;
  req.method = method;
  if (origin) req.headers.add("Origin", origin);
  if (preflight) req.headers.add("Access-Control-Request-Method", "GET");
  Response res;
  apply_cors(allowed, req, res, "GET, HEAD, OPTIONS", "Range");
  return res;
}
}  // namespace

TEST(Cors, AllowedOriginIsEchoedWithCredentials) {
  auto r = run({"https://www.rend.so"}, "GET", "https://www.rend.so");
  EXPECT_EQ(r.headers.get("access-control-allow-origin"), "https://www.rend.so");
  EXPECT_EQ(r.headers.get("access-control-allow-credentials"), "true");
  EXPECT_EQ(r.headers.get("vary"), "Origin");
  EXPECT_FALSE(r.headers.get("access-control-allow-methods")) << "only preflights list methods";
}

TEST(Cors, OtherOriginsGetNothingButVary) {
  for (const char* o : {"https://evil.example", "https://www.rend.so.evil.example", "https://WWW.REND.SO", "null"}) {
    auto r = run({"https://www.rend.so"}, "GET", o);
    EXPECT_FALSE(r.headers.get("access-control-allow-origin")) << o;
    EXPECT_FALSE(r.headers.get("access-control-allow-credentials")) << o;
    EXPECT_EQ(r.headers.get("vary"), "Origin") << "caches must key on Origin even when refused";
  }
  EXPECT_FALSE(run({"https://www.rend.so"}, "GET", nullptr).headers.get("vary")) << "no Origin, no CORS";
}

TEST(Cors, PreflightListsMethodsAndHeaders) {
  auto r = run({"https://www.rend.so"}, "OPTIONS", "https://www.rend.so", true);
  EXPECT_EQ(r.headers.get("access-control-allow-methods"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.headers.get("access-control-allow-headers"), "Range");
  EXPECT_TRUE(r.headers.get("access-control-max-age"));
}
