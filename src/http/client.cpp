#include "http/client.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "http/outbound.h"

namespace rend::http {
namespace {

struct Transfer {
  const ClientRequest& req;
  ClientResponse& res;
  uint64_t received = 0;
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  t->received += len;
  if (t->req.max_body_bytes && t->received > t->req.max_body_bytes) {
    t->res.body_too_large = true;
    return 0;  // aborts with CURLE_WRITE_ERROR
  }
  if (t->req.on_body) return t->req.on_body(p, len) ? len : 0;
  t->res.body.append(p, len);
  return len;
}

int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(ud)->req.keep_going() ? 0 : 1;  // non-zero aborts
}

// libcurl asks this for every socket it opens, with the address it will connect to,
// after resolution and for every redirect: the one place an address check cannot be
// raced by a DNS answer that changes between check and connect.
curl_socket_t open_checked_socket(void* ud, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(ud);
  if (purpose != CURLSOCKTYPE_IPCXN || !outbound_address_allowed(&addr->addr, *t->req.outbound)) {
    t->res.address_refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype, addr->protocol);
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
  Transfer transfer{req, res};
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
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  if (req.outbound) {
    const char* protocols = req.outbound->require_https ? "https" : "http,https";
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_PROXY, "");  // a proxy would connect for us, unchecked
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &transfer);
  }
  if (req.outbound && req.max_redirects > 0) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, req.max_redirects);
  }
  if (req.keep_going) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &res);
  if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    res.protocol_refused = rc == CURLE_UNSUPPORTED_PROTOCOL;
    // curl_easy_strerror never includes the URL, so no token in a query leaks here.
    res.error = res.address_refused  ? "the address is not allowed for outbound requests"
                : res.body_too_large ? "the response body is larger than allowed"
                                     : curl_easy_strerror(rc);
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
