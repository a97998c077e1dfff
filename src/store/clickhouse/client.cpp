#include "store/clickhouse/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "core/percent.h"
#include "store/metadata.h"

namespace rend::store::clickhouse {

namespace {

constexpr std::chrono::milliseconds kMaxConnectTimeout{5000};
// ClickHouse's error bodies are a line or two; a runaway one must not flood the log.
constexpr size_t kMaxErrorExcerpt = 512;

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

std::string excerpt(const std::string& body) {
  std::string s = body.substr(0, kMaxErrorExcerpt);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

Client::Client(const ClickHouseConfig& config)
    : user_(config.user), password_(config.password), timeout_(config.timeout) {
  // Messages here name the setting, never echo the URL: a URL with credentials in it
  // must not reach a log through the exception.
  const std::string& url = config.url;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    throw std::invalid_argument("clickhouse: CLICKHOUSE_URL must start with http:// or https://");
  auto host_begin = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", host_begin);
  std::string_view authority(url.data() + host_begin,
                             (authority_end == std::string::npos ? url.size() : authority_end) - host_begin);
  if (authority.find('@') != std::string_view::npos)
    throw std::invalid_argument(
        "clickhouse: CLICKHOUSE_URL must not contain credentials; set the ClickHouse user and password instead");
  if (authority.empty()) throw std::invalid_argument("clickhouse: CLICKHOUSE_URL has no host");
  if (url.find_first_of("?#", host_begin) != std::string::npos)
    throw std::invalid_argument("clickhouse: CLICKHOUSE_URL must not have a query or fragment");
  base_url_ = url;
  while (base_url_.size() > host_begin && base_url_.back() == '/') base_url_.pop_back();
  // Both go into header lines; a CR or LF would let them inject headers.
  auto has_ctl = [](const std::string& v) {
    return std::any_of(v.begin(), v.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; });
  };
  if (user_.empty() || has_ctl(user_)) throw std::invalid_argument("clickhouse: invalid user name");
  if (has_ctl(password_)) throw std::invalid_argument("clickhouse: the password contains control characters");
  if (timeout_.count() <= 0) throw std::invalid_argument("clickhouse: timeout must be positive");
}

std::string Client::query(std::string_view sql, std::chrono::milliseconds timeout) const {
  return post("", sql, timeout, "query");
}

void Client::insert(std::string_view statement, std::string_view data) const {
  post(statement, data, timeout_, "insert");
}

std::string Client::post(std::string_view query_param, std::string_view body, std::chrono::milliseconds timeout,
                         std::string_view what) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw StoreError("clickhouse: " + std::string(what) + ": curl_easy_init failed");
  CURL* c = curl.get();

  // wait_end_of_query: ClickHouse buffers the result, so an error half-way through a
  // SELECT arrives as an HTTP error status rather than after a 200 and partial rows.
  std::string url = base_url_ + "/?wait_end_of_query=1";
  if (!query_param.empty()) {
    url += "&query=";
    url += core::percent_encode(query_param);
  }

  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hdrs(nullptr, curl_slist_free_all);
  auto add = [&](const std::string& h) {
    // Appending returns the list's head, which stays the first node's.
    curl_slist* head = curl_slist_append(hdrs.get(), h.c_str());
    if (!head) throw StoreError("clickhouse: " + std::string(what) + ": out of memory");
    if (!hdrs) hdrs.reset(head);
  };
  add("X-ClickHouse-User: " + user_);
  // curl drops a header whose value is empty ("Name:"), and no key means the empty
  // password to ClickHouse anyway.
  if (!password_.empty()) add("X-ClickHouse-Key: " + password_);
  add("Content-Type: text/plain; charset=utf-8");
  // No "Expect: 100-continue" round trip for large batches.
  add("Expect:");

  std::string response;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs.get());
  // Signals are not safe in a multi-threaded server (curl's DNS timeout uses alarm()).
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(timeout, kMaxConnectTimeout).count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  // A redirect would resend the credential headers to wherever it points.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    // curl_easy_strerror names the failure only: no URL, no headers.
    throw StoreError("clickhouse: " + std::string(what) + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    throw StoreError("clickhouse: " + std::string(what) + ": HTTP " + std::to_string(status) + ": " +
                     excerpt(response));
  return response;
}

}  // namespace rend::store::clickhouse
