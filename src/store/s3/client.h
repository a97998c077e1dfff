#pragma once
// libcurl plumbing shared by every S3 request: signing, timeouts, shared caches.
//
// Signing is delegated to libcurl's CURLOPT_AWS_SIGV4 rather than implemented here:
// libcurl's SigV4 is maintained and tested against AWS's published test vectors,
// and s3rver (our test server) does not verify V4 signatures at all, so a
// hand-rolled signer could be wrong in ways no test of ours would catch. What we
// own is handing libcurl a request it signs correctly: canonical URLs (url.h) and
// an explicit x-amz-content-sha256 header on every request (libcurl 7.88 signs
// that header's value as the payload hash but, unlike newer releases, does not
// add it itself, and S3 rejects requests without it).
#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rend::store::s3 {

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

// A reusable origin connection for streaming GETs: an easy handle and the multi
// handle it runs in. The multi's connection cache holds the TCP (and TLS) connection
// open between transfers, so a pooled Conn skips the handshake on its next GET.
struct Conn {
  CURLM* multi = nullptr;
  EasyHandle easy;
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    easy.reset();  // never attached to `multi` here: readers detach before releasing
    if (multi) curl_multi_cleanup(multi);
  }
};
using ConnPtr = std::unique_ptr<Conn>;

// Fills up to n bytes of a request body; returns 0 only at its end; may throw.
using BodyReader = std::function<size_t(char* buf, size_t n)>;

// The payload hash of an empty body, which S3 wants for GET/HEAD/DELETE.
inline constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Request {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // PUT: a streamed body of upload_size bytes, sent as UNSIGNED-PAYLOAD (hashing
  // would mean reading it twice; TLS protects it in transit).
  uint64_t upload_size = 0;
  BodyReader upload;
  // POST (and small PUTs): an in-memory body, signed by its SHA-256.
  std::optional<std::string> body;
  std::string what;  // "PUT sources/x", for error messages (never the URL)
  // The whole exchange's bound; 0: none (data transfers take as long as they
  // keep moving, see kStallSeconds).
  long timeout_ms = 0;
};

struct Response {
  long status = 0;
  std::string body;  // error documents and listings; bounded
  std::optional<uint64_t> content_length;
  std::string etag;
  bool ok() const { return status >= 200 && status < 300; }
};

// "HTTP 403 AccessDenied": the status and S3's error code, nothing else (an
// error document can echo request details, so its text is not passed on).
std::string describe(const Response& r);
[[noreturn]] void throw_status(const std::string& what, const Response& r);

// Timeouts shared by every request.
inline constexpr long kConnectTimeoutMs = 5000;
// A transfer moving under 1 byte/s for this long is stalled and aborted.
inline constexpr long kStallSeconds = 30;
// A health check's whole exchange: /readyz waits for it, and a hung server must
// read as down within seconds, not after a data transfer's stall timeout.
inline constexpr long kHealthTimeoutMs = 2000;

class Client {
 public:
  // Empty access_key_id: unsigned (anonymous) requests.
  Client(const std::string& region, std::string access_key_id, std::string secret_access_key);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A configured handle (signing when `sign`, timeouts, shared DNS/TLS caches,
  // no redirects). `error_buf` must hold CURL_ERROR_SIZE bytes and outlive it.
  EasyHandle new_handle(const std::string& url, char* error_buf, bool sign = true) const;
  // A connection for a streaming GET of `url`, configured as new_handle() does: the
  // most recently released idle one (its connection kept alive) or, with `fresh` or
  // none idle, a new one. Thread-safe.
  ConnPtr acquire(const std::string& url, char* error_buf, bool fresh = false) const;
  // Hands back a connection whose transfer ended cleanly (detached from its multi),
  // for the next acquire(). Beyond kMaxIdleConns idle ones it is closed instead.
  void release(ConnPtr conn) const;
  // Idle connections kept per client (one client per origin): as many as the edge
  // runs fills at once by default.
  static constexpr size_t kMaxIdleConns = 64;
  // Headers for a request plus x-amz-content-sha256.
  static HeaderList header_list(const std::vector<std::string>& headers, std::string_view payload_hash);

  // Blocking. Throws std::runtime_error on a transport failure or a body callback
  // error; any HTTP status is returned for the caller to judge.
  Response perform(const Request& req) const;
  // An unsigned GET of an arbitrary URL (the health URL); status 0 plus `error`
  // on a transport failure.
  Response probe(const std::string& url, std::string& error) const;

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self);
  static void unlock(CURL*, curl_lock_data data, void* self);

  std::string sigv4_;
  std::string access_key_id_, secret_access_key_;
  void configure(CURL* c, const std::string& url, char* error_buf, bool sign) const;

  CURLSH* share_ = nullptr;
  mutable std::mutex locks_[CURL_LOCK_DATA_LAST];
  mutable std::mutex pool_mu_;
  mutable std::vector<ConnPtr> idle_;  // most recently released last
};

}  // namespace rend::store::s3
