#include "store/s3/client.h"

#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "core/crypto.h"
#include "store/s3/xml.h"

namespace rend::store::s3 {

namespace {

// Listings (1000 keys) and error documents are far below this; anything bigger is
// not a response we asked for.
constexpr size_t kMaxResponseBody = 16 << 20;

struct PerformState {
  const Request* req = nullptr;
  std::string body;
  bool overflow = false;
  uint64_t sent = 0;
  std::exception_ptr error;  // thrown by the body reader; rethrown after perform
  size_t post_offset = 0;
};

size_t on_write(char* data, size_t size, size_t nmemb, void* userp) {
  auto* st = static_cast<PerformState*>(userp);
  const size_t n = size * nmemb;
  if (st->body.size() + n > kMaxResponseBody) {
    st->overflow = true;
    return 0;  // aborts the transfer
  }
  st->body.append(data, n);
  return n;
}

size_t on_read(char* buf, size_t size, size_t nmemb, void* userp) {
  auto* st = static_cast<PerformState*>(userp);
  const size_t want = size * nmemb;
  try {
    if (st->req->body) {
      const std::string& b = *st->req->body;
      const size_t n = std::min(want, b.size() - st->post_offset);
      std::memcpy(buf, b.data() + st->post_offset, n);
      st->post_offset += n;
      return n;
    }
    const size_t n = st->req->upload(buf, want);
    st->sent += n;
    // A source shorter than announced would otherwise stall until the server's
    // timeout; one longer would be silently truncated by curl.
    if (n == 0 && st->sent != st->req->upload_size) throw std::runtime_error("body source ended early");
    if (st->sent > st->req->upload_size) throw std::runtime_error("body source is longer than announced");
    return n;
  } catch (...) {
    // Exceptions must not unwind through libcurl's C frames.
    st->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

std::string curl_error(CURLcode code, const char* error_buf) {
  // The error buffer names the host at most (e.g. "Failed to connect to
  // 127.0.0.1 port 9100"); credentials never reach it because they are not in URLs.
  return error_buf[0] ? std::string(error_buf) : std::string(curl_easy_strerror(code));
}

}  // namespace

std::string describe(const Response& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  try {
    if (auto code = xml_first(r.body, "Code")) out += " " + *code;
  } catch (const std::exception&) {
    // A garbled error document still leaves the status to report.
  }
  return out;
}

void throw_status(const std::string& what, const Response& r) {
  throw std::runtime_error("s3 " + what + ": " + describe(r));
}

Client::Client(const std::string& region, std::string access_key_id, std::string secret_access_key)
    : sigv4_("aws:amz:" + region + ":s3"),
      access_key_id_(std::move(access_key_id)),
      secret_access_key_(std::move(secret_access_key)) {
  // DNS results and TLS sessions are shared across requests so the many short
  // requests (HEAD, small PUTs, segment GETs) skip repeated lookups and full TLS
  // handshakes. Connections are not shared: libcurl's shared connection cache
  // has had thread-safety fixes well after 7.88.
  share_ = curl_share_init();
  if (!share_) throw std::runtime_error("curl_share_init failed");
  curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &Client::lock);
  curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Client::unlock);
  curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

Client::~Client() {
  idle_.clear();  // their easy handles use share_
  curl_share_cleanup(share_);
}

void Client::lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
  static_cast<Client*>(self)->locks_[data].lock();
}

void Client::unlock(CURL*, curl_lock_data data, void* self) { static_cast<Client*>(self)->locks_[data].unlock(); }

EasyHandle Client::new_handle(const std::string& url, char* error_buf, bool sign) const {
  EasyHandle h(curl_easy_init());
  if (!h) throw std::runtime_error("curl_easy_init failed");
  configure(h.get(), url, error_buf, sign);
  return h;
}

ConnPtr Client::acquire(const std::string& url, char* error_buf, bool fresh) const {
  ConnPtr conn;
  if (!fresh) {
    std::lock_guard lk(pool_mu_);
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn) {
    // Options back to defaults; the connection stays in the multi's cache.
    curl_easy_reset(conn->easy.get());
    configure(conn->easy.get(), url, error_buf, true);
    return conn;
  }
  conn = std::make_unique<Conn>();
  conn->easy = new_handle(url, error_buf);
  conn->multi = curl_multi_init();
  if (!conn->multi) throw std::runtime_error("curl_multi_init failed");
  return conn;
}

void Client::release(ConnPtr conn) const {
  {
    std::lock_guard lk(pool_mu_);
    if (idle_.size() < kMaxIdleConns) {
      idle_.push_back(std::move(conn));
      return;
    }
  }
  // Over the bound: `conn` closes here, with the lock released.
}

void Client::configure(CURL* c, const std::string& url, char* error_buf, bool sign) const {
  error_buf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buf);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Signed requests must not be replayed elsewhere, and S3 never redirects a
  // correctly addressed request.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // many threads; no SIGALRM-based DNS timeouts
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  curl_easy_setopt(c, CURLOPT_SHARE, share_);
  if (sign && !access_key_id_.empty()) {
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    // Separate options rather than "id:secret", which would split at a ':' in the id.
    curl_easy_setopt(c, CURLOPT_USERNAME, access_key_id_.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, secret_access_key_.c_str());
  }
}

HeaderList Client::header_list(const std::vector<std::string>& headers, std::string_view payload_hash) {
  curl_slist* list = nullptr;
  auto add = [&](const std::string& h) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (!next) {
      curl_slist_free_all(list);
      throw std::bad_alloc();
    }
    list = next;
  };
  for (const auto& h : headers) add(h);
  add("x-amz-content-sha256: " + std::string(payload_hash));
  return HeaderList(list);
}

Response Client::perform(const Request& req) const {
  char error_buf[CURL_ERROR_SIZE];
  EasyHandle h = new_handle(req.url, error_buf);
  CURL* c = h.get();
  PerformState st;
  st.req = &req;

  std::string payload_hash(kEmptySha256);
  if (req.body) payload_hash = core::sha256_hex(*req.body);
  else if (req.upload) payload_hash = "UNSIGNED-PAYLOAD";
  HeaderList headers = header_list(req.headers, payload_hash);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  if (req.timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);

  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    // UPLOAD makes curl send Content-Length from INFILESIZE and stream the body
    // through the read callback, so a part or file is never copied whole.
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(req.body ? req.body->size() : req.upload_size));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &st);
  } else if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    const std::string& b = req.body ? *req.body : std::string();
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(b.size()));
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, b.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(c);
  if (st.error) std::rethrow_exception(st.error);
  if (st.overflow) throw std::runtime_error("s3 " + req.what + ": response body too large");
  if (rc != CURLE_OK) throw std::runtime_error("s3 " + req.what + ": " + curl_error(rc, error_buf));

  Response r;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_off_t len = -1;
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  if (len >= 0) r.content_length = uint64_t(len);
  curl_header* etag = nullptr;
  if (curl_easy_header(c, "ETag", 0, CURLH_HEADER, -1, &etag) == CURLHE_OK) r.etag = etag->value;
  r.body = std::move(st.body);
  return r;
}

Response Client::probe(const std::string& url, std::string& error) const {
  char error_buf[CURL_ERROR_SIZE];
  EasyHandle h = new_handle(url, error_buf, /*sign=*/false);
  CURL* c = h.get();
  PerformState st;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kHealthTimeoutMs);
  Response r;
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    error = curl_error(rc, error_buf);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

}  // namespace rend::store::s3
