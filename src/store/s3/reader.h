#pragma once
// A streaming GET: the object is never held in memory, only a bounded window.
//
// The transfer is driven from read() itself through a private curl multi handle
// rather than by a background thread: an open reader then costs no thread (the
// edge may hold many), and back-pressure is exact: when the window is full the
// write callback pauses the transfer, so TCP flow control stops the server until
// the consumer catches up (and libcurl's stall timeout does not count paused time).
// The destructor cancels whatever is left of the transfer by closing it; a transfer
// that ended cleanly hands its connection back to the client's pool (keep-alive), so
// the next GET to the origin skips the TCP/TLS handshake. A GET on a pooled
// connection that fails before any response (the server dropped it while idle) is
// retried once on a fresh connection.
#include <curl/curl.h>

#include <memory>
#include <string>

#include "store/objects.h"
#include "store/s3/client.h"

namespace rend::store::s3 {

class S3Reader final : public ObjectReader {
 public:
  // Sends the GET and waits for the response headers. nullptr on 404; throws
  // std::runtime_error on any other failure. start() then await_head().
  static std::unique_ptr<S3Reader> open(const Client& client, const std::string& url, std::string what);
  // The first half of open(), which never waits: takes a connection and lets curl
  // send as much of the request as it can at once (all of it on a pooled connection;
  // a new one is only being connected). `fresh`: never a pooled connection.
  static std::unique_ptr<S3Reader> start(const Client& client, const std::string& url, std::string what,
                                         bool fresh = false);
  // The second half, on any thread (one at a time): waits for the response headers
  // of a started reader; as open() from there, including the one retry on a fresh
  // connection when a pooled one turned out dead.
  static std::unique_ptr<S3Reader> await_head(std::unique_ptr<S3Reader> r);
  ~S3Reader() override;

  // Throws std::runtime_error when the transfer fails or ends short of
  // Content-Length: a truncated object is never reported as a complete one.
  size_t read(char* buf, size_t n) override;
  uint64_t size() const override { return size_; }

  // Bytes held at most (plus one curl write, <= CURL_MAX_WRITE_SIZE).
  static constexpr size_t kWindow = 1 << 20;

 private:
  S3Reader(const Client& client, std::string url, std::string what, bool fresh)
      : client_(&client), url_(std::move(url)), what_(std::move(what)), fresh_(fresh) {
    error_buf_[0] = '\0';
  }
  // Sends the GET on `conn` and waits for the status: false when the transfer failed
  // before any response (the caller may retry), else true; throws on other failures.
  CURL* easy() const { return conn_->easy.get(); }
  static size_t on_write(char* data, size_t size, size_t nmemb, void* self);
  size_t buffered() const { return buf_.size() - off_; }
  // Whether curl has written the request (all of its headers) to the socket.
  bool request_sent() const;
  // One round of transfer work: perform, collect completion, and (with `wait`) wait
  // for the socket when nothing happened.
  void drive(bool wait = true);

  const Client* client_;
  std::string url_, what_;
  bool fresh_ = false;  // on a connection opened for it (no retry then)
  char error_buf_[CURL_ERROR_SIZE];
  HeaderList headers_;
  ConnPtr conn_;  // back to the client's pool when the transfer ended cleanly
  bool attached_ = false;

  std::string buf_;  // window: bytes [off_, size) are unread
  size_t off_ = 0;
  bool paused_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  long status_ = 0;         // known from the first body byte or completion
  std::string error_body_;  // non-2xx response body, bounded
  uint64_t size_ = 0;
  uint64_t received_ = 0;
};

}  // namespace rend::store::s3
