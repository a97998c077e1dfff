#include "http/message.h"

#include <utility>

#include "core/log.h"
#include "core/percent.h"
#include "http/cookie.h"

namespace rend::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // ASCII folding (field names are ASCII tokens): std::tolower asks the locale per byte.
  auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20) : c; };
  for (size_t i = 0; i < a.size(); ++i)
    if (fold(static_cast<unsigned char>(a[i])) != fold(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& h : items())
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  add(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  // Only the live fields; what is removed moves past n_ (its storage is reused).
  // Swaps, not std::stable_partition, which may allocate a scratch buffer.
  size_t kept = 0;
  for (size_t i = 0; i < n_; ++i) {
    if (iequals(items_[i].name, name)) continue;
    if (i != kept) std::swap(items_[kept], items_[i]);
    ++kept;
  }
  n_ = kept;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string storage;
  auto v = query_param_view(name, storage);
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string_view> Request::query_param_view(std::string_view name, std::string& storage) const {
  constexpr auto npos = std::string_view::npos;
  std::string_view q = query;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const auto part = q.substr(0, amp);
    const auto eq = part.find('=');
    const auto raw_key = part.substr(0, eq);
    // Only a key with '%' or '+' needs decoding to be compared.
    const bool match =
        raw_key.find_first_of("%+") == npos ? raw_key == name : core::percent_decode(raw_key, true) == name;
    if (match) {
      if (eq == npos) return std::string_view();
      const auto raw = part.substr(eq + 1);
      if (raw.find_first_of("%+") == npos) return raw;
      storage = core::percent_decode(raw, true);
      return std::string_view(storage);
    }
    if (amp == npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  auto v = cookie_view(name);
  if (!v) return std::nullopt;
  return std::string(*v);
}

std::optional<std::string_view> Request::cookie_view(std::string_view name) const {
  // Several Cookie headers are allowed over HTTP/2 proxies, so look at all of them.
  for (const auto& h : headers.items()) {
    if (!iequals(h.name, "cookie")) continue;
    if (auto v = cookie_in_header(h.value, name)) return v;
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  return json(status, "{\"error\":{\"code\":\"" + core::log::json_escape(code) + "\",\"message\":\"" +
                          core::log::json_escape(message) + "\"}}");
}

}  // namespace rend::http
