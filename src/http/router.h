#pragma once
// Method + path-pattern routing. Patterns are '/'-separated: literal segments,
// "{name}" for one segment and "{name*}" (last only) for the raw rest of the path.
// Params are raw (not percent-decoded): handlers validate them.
#include <functional>

#include "http/message.h"

namespace rend::http {

using Handler = std::function<Response(Request&)>;

struct RouteOptions {
  // Body handed over as a BodyReader instead of being buffered (uploads).
  bool stream_body = false;
  // Handler never blocks (no disk waits beyond page cache, no network): run it on
  // the I/O thread and skip the hop to the handler pool.
  bool inline_handler = false;
  // Limit for buffered bodies; larger gets 413 before the handler runs.
  uint64_t max_body_bytes = 1 << 20;
  // Runs after routing and before any body byte is read or "100 Continue" is sent,
  // so that an unauthenticated client cannot make the server read (or buffer) its
  // body: a response returned here is sent instead of running the handler (and the
  // connection is closed, the body unread). Runs where the handler would (handler
  // pool, or the I/O thread for inline_handler), so it may block on a key lookup.
  std::function<std::optional<Response>(const Request&)> before_body;
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler, RouteOptions opts = {});

  struct Match {
    const Handler* handler = nullptr;
    const RouteOptions* opts = nullptr;  // set with handler; points into the router
    std::map<std::string, std::string> params;
    bool method_not_allowed = false;  // path matched, method did not
    std::string allow;                // methods for 405 / OPTIONS (HEAD wherever GET is)
  };
  // HEAD falls back to the GET route (the server drops the body).
  Match match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    RouteOptions opts;
  };
  static bool match_pattern(const Route& r, std::string_view path, std::map<std::string, std::string>& params);
  std::vector<Route> routes_;
};

}  // namespace rend::http
