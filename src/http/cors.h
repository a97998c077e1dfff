#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace rend::http {

// Credentialed CORS (Fetch standard): an allowed Origin is echoed exactly (never
// "*", which browsers refuse with credentials) with Allow-Credentials and
// `Vary: Origin` so caches keep per-origin copies. Preflights (OPTIONS with
// Access-Control-Request-Method) also get the allowed methods and headers.
// `expose_headers`: what a page may read from a non-preflight answer.
void apply_cors(const std::vector<std::string>& allowed_origins, const Request& req, Response& res,
                std::string_view methods, std::string_view allow_headers,
                std::string_view expose_headers =
                    "x-rend-cache, x-rend-edge-id, x-rend-region, Content-Length, "
                    "Content-Range");

}  // namespace rend::http
