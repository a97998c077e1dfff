#include "http/router.h"

namespace rend::http {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    auto slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions opts) {
  routes_.push_back({std::move(method), split_path(pattern), std::move(handler), opts});
}

bool Router::match_pattern(const Route& r, std::string_view path, Params& params) {
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const auto& seg = r.segments[i];
    bool is_param = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
    if (is_param && seg[seg.size() - 2] == '*') {
      // Rest of the path, raw, may contain '/'; must be non-empty.
      if (rest.empty()) return false;
      params.append(std::string_view(seg).substr(1, seg.size() - 3), rest);
      return true;
    }
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (is_param) {
      if (part.empty()) return false;
      params.append(std::string_view(seg).substr(1, seg.size() - 2), part);
    } else if (part != seg) {
      return false;
    }
    bool last = i + 1 == r.segments.size();
    if (last) return slash == std::string_view::npos;
    if (slash == std::string_view::npos) return false;
    rest.remove_prefix(slash + 1);
  }
  return false;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Params params;
  Match m = match(method, path, params);
  m.params = std::move(params);
  return m;
}

Router::Match Router::match(std::string_view method, std::string_view path, Params& params) const {
  Match m;
  const Route* get_fallback = nullptr;
  bool head_listed = false;
  for (const auto& r : routes_) {
    params.reset();
    if (!match_pattern(r, path, params)) continue;
    if (r.method == method) {
      m.handler = &r.handler;
      m.opts = &r.opts;
      return m;
    }
    if (method == "HEAD" && r.method == "GET" && !get_fallback) get_fallback = &r;
    // A GET route answers HEAD too (RFC 9110 section 9.3.2), so 405 lists it.
    const bool is_get = r.method == "GET";
    if (r.method == "HEAD" && head_listed) continue;
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += r.method;
    if (is_get && !head_listed) m.allow += ", HEAD";
    head_listed |= is_get || r.method == "HEAD";
  }
  params.reset();
  if (get_fallback) {
    // Matched again for its params (the loop went on past it): HEAD only, and rare.
    match_pattern(*get_fallback, path, params);
    m.handler = &get_fallback->handler;
    m.opts = &get_fallback->opts;
    return m;
  }
  m.method_not_allowed = !m.allow.empty();
  return m;
}

}  // namespace rend::http
