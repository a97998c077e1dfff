// GET /v1/openapi.json: docs/openapi.yaml as JSON, converted at build time
// (cmake/openapi_to_cpp.py), so the document served is the one in the tree the
// binary was built from. Public: it describes the API, it holds no secret.
#include <string_view>

#include "api/common.h"

namespace rend::api {

extern const std::string_view kOpenApiJson;  // generated: openapi_document.cpp

void add_openapi_routes(http::Router& r, const ApiDeps&) {
  r.add("GET", "/v1/openapi.json", [](http::Request&) {
    auto res = http::Response::json(200, std::string(kOpenApiJson));
    res.headers.set("Cache-Control", "public, max-age=300");
    return res;
  });
}

}  // namespace rend::api
