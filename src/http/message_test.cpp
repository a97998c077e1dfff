#include <gtest/gtest.h>

#include "http/message.h"
#include "http/router.h"

using namespace rend::http;

TEST(Message, QueryParamsAreDecoded) {
  Request r;
  r.query = "a=1&token=x%2By&b=hello+world&flag";
  EXPECT_EQ(r.query_param("token"), "x+y");
  EXPECT_EQ(r.query_param("b"), "hello world");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_FALSE(r.query_param("missing"));
}

// The view: into the query when nothing needs decoding, into `storage` otherwise;
// an encoded key still matches.
TEST(Message, QueryParamViewsDecodeOnlyWhenNeeded) {
  Request r;
  r.query = "a=1&tok%65n=x%2By&plain=v1.k.9&flag";
  std::string storage;
  auto v = r.query_param_view("plain", storage);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "v1.k.9");
  EXPECT_EQ(v->data(), r.query.data() + r.query.find("v1.k.9")) << "a copy where none was needed";
  v = r.query_param_view("token", storage);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "x+y");
  EXPECT_EQ(v->data(), storage.data());
  EXPECT_EQ(r.query_param_view("flag", storage), std::string_view());
  EXPECT_FALSE(r.query_param_view("missing", storage));
}

TEST(Message, Cookies) {
  Request r;
  r.headers.add("Cookie", "a=1; rend_playback=v1.k.1.ast.sig; z=\"q\"");
  EXPECT_EQ(r.cookie("rend_playback"), "v1.k.1.ast.sig");
  EXPECT_EQ(r.cookie("z"), "q");
  EXPECT_FALSE(r.cookie("rend"));
}

TEST(Message, HeadersCaseInsensitive) {
  Headers h;
  h.add("Content-Type", "a");
  EXPECT_EQ(h.get("content-type"), "a");
  h.set("CONTENT-TYPE", "b");
  EXPECT_EQ(h.items().size(), 1u);
  EXPECT_EQ(h.get("Content-Type"), "b");
}

TEST(Message, ErrorBodyShape) {
  auto r = Response::error(404, "not_found", "no \"such\" asset");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":{"code":"not_found","message":"no \"such\" asset"}})");
}

TEST(Router, ParamsAndRest) {
  Router router;
  router.add("GET", "/v1/assets/{id}", [](Request&) { return Response::text(200, "one"); });
  router.add("GET", "/v/{asset}/{path*}", [](Request&) { return Response::text(200, "art"); });
  auto m = router.match("GET", "/v1/assets/ast_1");
  ASSERT_TRUE(m.handler);
  EXPECT_EQ(m.params["id"], "ast_1");
  m = router.match("GET", "/v/ast_1/720p/seg_1.ts");
  ASSERT_TRUE(m.handler);
  EXPECT_EQ(m.params["path"], "720p/seg_1.ts");
  EXPECT_FALSE(router.match("GET", "/v1/assets/").handler);
  EXPECT_FALSE(router.match("GET", "/v1/assets/a/b").handler);
  EXPECT_TRUE(router.match("HEAD", "/v1/assets/x").handler);
  auto d = router.match("DELETE", "/v1/assets/x");
  EXPECT_FALSE(d.handler);
  EXPECT_TRUE(d.method_not_allowed);
}

TEST(Router, AllowListsHeadWhereGetIsAllowed) {
  Router router;
  router.add("GET", "/a", [](Request&) { return Response::text(200, "a"); });
  router.add("DELETE", "/a", [](Request&) { return Response::text(200, "a"); });
  router.add("POST", "/b", [](Request&) { return Response::text(200, "b"); });
  auto m = router.match("PUT", "/a");
  EXPECT_TRUE(m.method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, DELETE");
  m = router.match("GET", "/b");
  EXPECT_EQ(m.allow, "POST");
}

TEST(Router, ExplicitHeadRouteIsListedOnce) {
  Router router;
  router.add("GET", "/a", [](Request&) { return Response::text(200, "a"); });
  router.add("HEAD", "/a", [](Request&) { return Response::text(200, "a"); });
  EXPECT_EQ(router.match("PUT", "/a").allow, "GET, HEAD");
}
