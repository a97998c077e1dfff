#pragma once
// Blocking HTTP client on libcurl, for control-plane calls between roles (warm,
// purge, registration, telemetry). Thread-safe: one easy handle per call.
// Transport failures are reported in `error` (status 0), never thrown.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace rend::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
};

struct ClientResponse {
  long status = 0;  // 0 = transport error
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string error;
  // From the start of the request to the first response byte (libcurl's
  // CURLINFO_STARTTRANSFER_TIME_T), and to the end: the readiness gate times edges by it.
  std::chrono::microseconds ttfb{0};
  std::chrono::microseconds total{0};
  bool ok() const { return status >= 200 && status < 300; }
};

// Call once from main before threads start (curl_global_init is not thread-safe).
void client_global_init();
ClientResponse send(const ClientRequest& req);

// A client that keeps its connections open between requests (one libcurl handle),
// for a caller that sends often to the same host (telemetry batches). Not
// thread-safe: one request at a time.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ClientResponse send(const ClientRequest& req);

 private:
  void* handle_;  // CURL*, kept out of this header
};

}  // namespace rend::http
