#include "api/query_params.h"

#include <charconv>

namespace rend::api {

std::optional<int64_t> parse_int_strict(std::string_view text, int64_t min, int64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return std::nullopt;
  return v;
}

std::variant<std::optional<std::string>, std::string> single_query_param(const http::Request& req,
                                                                         std::string_view name) {
  // Count occurrences the way query_param matches them (on the decoded name).
  http::Request probe;
  int count = 0;
  std::string_view q = req.query;
  while (!q.empty()) {
    auto amp = q.find('&');
    probe.query = std::string(q.substr(0, amp));
    if (probe.query_param(name)) ++count;
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  if (count > 1) return std::string(name) + " must be given at most once";
  return req.query_param(name);
}

std::variant<int, http::Response> page_limit(const http::Request& req, int def) {
  auto l = single_query_param(req, "limit");
  if (auto* err = std::get_if<std::string>(&l)) return http::Response::error(400, "invalid_limit", *err);
  const auto& text = std::get<std::optional<std::string>>(l);
  if (!text) return def;
  auto v = parse_int_strict(*text, 1, 100);
  if (!v) return http::Response::error(400, "invalid_limit", "limit must be an integer from 1 to 100");
  return static_cast<int>(*v);
}

}  // namespace rend::api
