#include "http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

namespace rend::http {
namespace {

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
    static_cast<ClientResponse*>(ud)->headers.emplace_back(std::move(name), std::move(value));
  }
  return size * n;
}

}  // namespace

void client_global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

// Sets up `c` for `req` and runs it. `c` is fresh or reset.
static ClientResponse perform(CURL* c, const ClientRequest& req) {
  ClientResponse res;
  curl_slist* hdrs = nullptr;
  for (const auto& [k, v] : req.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hdr_guard(hdrs, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long>(req.timeout.count(), 5000)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &res);
  if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    // curl_easy_strerror never includes the URL, so no token in a query leaks here.
    res.error = curl_easy_strerror(rc);
    res.status = 0;
    return res;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  curl_off_t us = 0;
  if (curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME_T, &us) == CURLE_OK) res.ttfb = std::chrono::microseconds(us);
  if (curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK) res.total = std::chrono::microseconds(us);
  return res;
}

ClientResponse send(const ClientRequest& req) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    ClientResponse res;
    res.error = "curl_easy_init failed";
    return res;
  }
  return perform(curl.get(), req);
}

Client::Client() : handle_(curl_easy_init()) {}
Client::~Client() {
  if (handle_) curl_easy_cleanup(static_cast<CURL*>(handle_));
}

ClientResponse Client::send(const ClientRequest& req) {
  if (!handle_) return http::send(req);
  // Reset clears the options but keeps the handle's open connections, so the next
  // request to the same host reuses the keep-alive connection.
  curl_easy_reset(static_cast<CURL*>(handle_));
  return perform(static_cast<CURL*>(handle_), req);
}

}  // namespace rend::http
