#pragma once
// Blocking HTTP client on libcurl, for control-plane calls between roles (warm,
// purge, registration, telemetry). Thread-safe: one easy handle per call.
// Transport failures are reported in `error` (status 0), never thrown.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace rend::http {

struct OutboundPolicy;  // http/outbound.h

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
  // Set for a URL a customer gave (webhook receivers, imports): http(s) only, no
  // proxy from the environment, and every address libcurl connects to (after DNS,
  // on each redirect) must pass outbound_address_allowed (http/outbound.h).
  const OutboundPolicy* outbound = nullptr;
  long max_redirects = 0;  // redirects are followed only when > 0
  // When set, body bytes go here as they arrive instead of into
  // ClientResponse::body; returning false aborts the transfer.
  std::function<bool(const char* data, size_t n)> on_body;
  uint64_t max_body_bytes = 0;  // 0 = no limit; more aborts with body_too_large
  // When set, asked as the transfer progresses (libcurl: at least once a second, even
  // while nothing arrives); returning false aborts it. Lets a long fetch be cancelled
  // (a worker shutting down) without waiting for its timeout.
  std::function<bool()> keep_going;
};

struct ClientResponse {
  long status = 0;  // 0 = transport error
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string error;
  bool address_refused = false;   // the outbound policy refused an address
  bool body_too_large = false;    // max_body_bytes was exceeded
  bool protocol_refused = false;  // the URL or a redirect uses a scheme the request does not allow
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
