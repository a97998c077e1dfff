#pragma once
// Plain request/response types shared by the server, the router and every handler.
// Deliberately free of Asio/Beast so that handler code compiles fast; the transport
// lives only in server.cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rend::http {

struct Header {
  std::string name;
  std::string value;
};

// Ordered, case-insensitive header list (RFC 9110 §5.1: field names are case-insensitive).
// reset() keeps the strings' storage: the server reuses one request per connection,
// so a kept-alive connection's requests fill the same buffers (no allocation per
// request once they are large enough).
class Headers {
 public:
  std::optional<std::string_view> get(std::string_view name) const;
  void add(std::string name, std::string value) {
    if (items_.empty()) items_.reserve(12);  // a typical response's fields, one allocation
    if (n_ < items_.size()) {
      items_[n_] = {std::move(name), std::move(value)};
    } else {
      items_.push_back({std::move(name), std::move(value)});
    }
    ++n_;
  }
  // The same, copying into a reused slot's storage.
  void append(std::string_view name, std::string_view value) {
    if (items_.empty()) items_.reserve(12);
    if (n_ == items_.size()) items_.emplace_back();
    items_[n_].name.assign(name);
    items_[n_].value.assign(value);
    ++n_;
  }
  // Replaces every existing field of that name.
  void set(std::string name, std::string value);
  void remove(std::string_view name);
  std::span<const Header> items() const { return {items_.data(), n_}; }
  // Forgets every field, keeping the storage for the next request.
  void reset() { n_ = 0; }

 private:
  std::vector<Header> items_;  // the first n_ are the fields; the rest keep storage
  size_t n_ = 0;
};

// Route parameters (from the route pattern, raw): a few entries, so a flat list
// (map-like lookups by name) whose storage a reused request keeps.
class Params {
 public:
  using Entry = std::pair<std::string, std::string>;
  // The value of `name`, added empty if missing (as std::map's operator[]).
  std::string& operator[](std::string_view name) {
    if (auto* v = find(name)) return *v;
    return append(name, {});
  }
  const std::string& at(std::string_view name) const {
    for (size_t i = 0; i < n_; ++i)
      if (items_[i].first == name) return items_[i].second;
    throw std::out_of_range("no route parameter " + std::string(name));
  }
  std::string* find(std::string_view name) {
    for (size_t i = 0; i < n_; ++i)
      if (items_[i].first == name) return &items_[i].second;
    return nullptr;
  }
  size_t count(std::string_view name) const {
    for (size_t i = 0; i < n_; ++i)
      if (items_[i].first == name) return 1;
    return 0;
  }
  std::string& append(std::string_view name, std::string_view value) {
    if (n_ == items_.size()) items_.emplace_back();
    auto& e = items_[n_++];
    e.first.assign(name);
    e.second.assign(value);
    return e.second;
  }
  void reset() { n_ = 0; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Entry* begin() const { return items_.data(); }
  const Entry* end() const { return items_.data() + n_; }

 private:
  std::vector<Entry> items_;  // the first n_ are the parameters; the rest keep storage
  size_t n_ = 0;
};

bool iequals(std::string_view a, std::string_view b);

// A request body read incrementally (routes registered with stream_body). read()
// blocks the calling handler thread until data arrives; returns 0 at the end of the
// body; throws std::runtime_error on a timeout or a dropped connection.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  virtual size_t read(char* buf, size_t n) = 0;
};

struct Request {
  std::string method;
  std::string target;  // raw request-target
  std::string path;    // raw (still percent-encoded) path, without the query
  std::string query;   // raw query, without '?'
  Headers headers;
  std::string body;                   // routes without stream_body: the whole body
  BodyReader* body_stream = nullptr;  // routes with stream_body
  std::optional<uint64_t> content_length;
  bool chunked = false;
  Params params;            // from the route pattern, raw
  std::string remote_addr;  // for rate limiting only; never logged
  std::string request_id;   // x-request-id if given, else generated (unique per process)
  // True when the handler runs on the handler pool (it may block); false on an I/O
  // thread (routes with inline_handler), where it must return Response::blocking()
  // instead of waiting on disk or network.
  bool may_block = true;
  std::chrono::steady_clock::time_point received;  // when the request head was parsed

  std::optional<std::string_view> header(std::string_view name) const { return headers.get(name); }
  // Percent-decoded query parameter (first occurrence).
  std::optional<std::string> query_param(std::string_view name) const;
  // The same without a copy when the value needs no decoding (no '%' or '+'): a view of
  // the query, valid while the request lives; otherwise decoded into `storage` and a
  // view of that.
  std::optional<std::string_view> query_param_view(std::string_view name, std::string& storage) const;
  std::optional<std::string> cookie(std::string_view name) const;
  // The same without a copy; valid while the request lives.
  std::optional<std::string_view> cookie_view(std::string_view name) const;
};

// A response body produced incrementally (files, cache fills). read() returns 0 at
// the end and throws on an error, which aborts the connection so that a truncated
// body is never mistaken for a complete one.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual size_t read(char* buf, size_t n) = 0;
  // True when read() may wait (e.g. on an origin); the server then calls it from a
  // handler thread instead of an I/O thread.
  virtual bool may_block() const { return false; }
  // A source that is a plain file range may be sent with sendfile(2) (no copy
  // through user space). fd stays owned by the source.
  struct FileRange {
    int fd = -1;
    uint64_t offset = 0, length = 0;
  };
  virtual std::optional<FileRange> file_range() const { return std::nullopt; }
};

class DeferredResponse;  // http/router.h

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A body shared with a cache (no copy); when set, sent instead of `body`.
  std::shared_ptr<const std::string> shared_body;
  std::unique_ptr<BodySource> source;     // when set, replaces body
  std::optional<uint64_t> source_length;  // Content-Length for source; unset = chunked
  bool close = false;                     // close the connection after this response
  // Returned by an inline handler that found it must block (e.g. a cache miss): the
  // server runs the same handler again on the handler pool with may_block = true.
  bool rerun_blocking = false;
  // Set by a handler whose answer is not known yet (the rest of this response is then
  // ignored): the server waits for it without holding a thread (http/router.h).
  std::shared_ptr<DeferredResponse> deferred;
  static Response blocking() {
    Response r;
    r.rerun_blocking = true;
    return r;
  }

  static Response json(int status, std::string body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error":{"code":...,"message":...}} (SPEC §4).
  static Response error(int status, std::string_view code, std::string_view message);
};

}  // namespace rend::http
