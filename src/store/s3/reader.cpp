#include "store/s3/reader.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace rend::store::s3 {

namespace {
constexpr size_t kMaxErrorBody = 64 * 1024;
// How long one drive() waits for socket activity before re-running curl's timers.
constexpr int kPollMs = 1000;
// How long start() keeps driving a new connection's connect so that its request leaves
// from the starting thread: a loopback or LAN handshake is done well within it.
constexpr auto kStartSpin = std::chrono::microseconds(200);
}  // namespace

S3Reader::~S3Reader() {
  if (!conn_) return;
  if (attached_) curl_multi_remove_handle(conn_->multi, conn_->easy.get());
  // Only a transfer curl finished cleanly leaves the connection at a response
  // boundary; one cut short is closed with its Conn (removing an unfinished transfer
  // makes curl close the connection).
  if (done_ && result_ == CURLE_OK) client_->release(std::move(conn_));
}

std::unique_ptr<S3Reader> S3Reader::open(const Client& client, const std::string& url, std::string what) {
  return await_head(start(client, url, std::move(what)));
}

std::unique_ptr<S3Reader> S3Reader::start(const Client& client, const std::string& url, std::string what, bool fresh) {
  std::unique_ptr<S3Reader> r(new S3Reader(client, url, std::move(what), fresh));
  r->conn_ = client.acquire(url, r->error_buf_, fresh);
  CURL* c = r->easy();
  r->headers_ = Client::header_list({}, kEmptySha256);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers_.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &S3Reader::on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r.get());
  if (curl_multi_add_handle(r->conn_->multi, c) != CURLM_OK) throw std::runtime_error("curl_multi_add_handle failed");
  r->attached_ = true;
  r->drive(/*wait=*/false);  // the request leaves now if the connection is ready
  // On a new connection the first perform only connects; curl writes the request on a
  // later perform, which would otherwise come only when a fill worker awaits the head.
  // A near origin (same host or LAN) completes the handshake within microseconds, so
  // a few more non-blocking rounds, bounded in time, send it from here; a far one
  // leaves it to await_head() as before, having cost this thread no wait.
  const auto until = std::chrono::steady_clock::now() + kStartSpin;
  while (!r->done_ && !r->request_sent() && std::chrono::steady_clock::now() < until) r->drive(/*wait=*/false);
  return r;
}

std::unique_ptr<S3Reader> S3Reader::await_head(std::unique_ptr<S3Reader> r) {
  for (;;) {
    CURL* c = r->easy();
    while (r->status_ == 0 && !r->done_) r->drive();
    // A failure after the body started is reported by read(), once the bytes that
    // did arrive are consumed; one before it means there is no response to read.
    // A request that went out on a pooled connection the server had dropped ends with
    // no response (libcurl retries the silent cases itself) or a cut one: once more on
    // a new connection. Only before any body byte, so nothing was handed out yet.
    auto retry = [&] {
      long new_conns = -1;
      curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &new_conns);
      return !r->fresh_ && new_conns == 0 && r->done_ && r->received_ == 0;
    };
    auto again = [&] { r = start(*r->client_, r->url_, r->what_, /*fresh=*/true); };
    if (r->done_ && r->result_ != CURLE_OK && r->status_ == 0) {
      if (retry()) {
        again();
        continue;
      }
      throw std::runtime_error("s3 " + r->what_ + ": " +
                               (r->error_buf_[0] ? std::string(r->error_buf_) : curl_easy_strerror(r->result_)));
    }
    if (r->status_ == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status_);
    if (r->status_ == 404) return nullptr;
    if (r->status_ < 200 || r->status_ >= 300) {
      while (!r->done_) r->drive();  // the error document names the S3 error code
      Response resp;
      resp.status = r->status_;
      resp.body = std::move(r->error_body_);
      throw_status(r->what_, resp);
    }
    curl_off_t len = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    // S3 always sends Content-Length on GET; without it a truncated body could not
    // be told from a complete one.
    if (len < 0) {
      if (retry()) {  // the headers were cut short
        again();
        continue;
      }
      throw std::runtime_error("s3 " + r->what_ + ": response has no Content-Length");
    }
    r->size_ = uint64_t(len);
    return r;
  }
}

size_t S3Reader::on_write(char* data, size_t size, size_t nmemb, void* self) {
  auto* r = static_cast<S3Reader*>(self);
  const size_t n = size * nmemb;
  if (r->status_ == 0) curl_easy_getinfo(r->easy(), CURLINFO_RESPONSE_CODE, &r->status_);
  if (r->status_ < 200 || r->status_ >= 300) {
    r->error_body_.append(data, std::min(n, kMaxErrorBody - std::min(kMaxErrorBody, r->error_body_.size())));
    return n;
  }
  if (r->buffered() >= kWindow) {
    // curl keeps this chunk and offers it again after curl_easy_pause(CONT).
    r->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (r->off_ == r->buf_.size()) {
    r->buf_.clear();
    r->off_ = 0;
  } else if (r->off_ >= kWindow / 2) {
    r->buf_.erase(0, r->off_);
    r->off_ = 0;
  }
  r->buf_.append(data, n);
  r->received_ += n;
  return n;
}

bool S3Reader::request_sent() const {
  long sent = 0;
  curl_easy_getinfo(easy(), CURLINFO_REQUEST_SIZE, &sent);
  return sent > 0;
}

void S3Reader::drive(bool wait) {
  if (paused_) {
    // Only ever resumed with room in the window; the held chunk may be delivered
    // from inside this call.
    paused_ = false;
    curl_easy_pause(easy(), CURLPAUSE_CONT);
  }
  const size_t before = buffered();
  int running = 0;
  if (CURLMcode mc = curl_multi_perform(conn_->multi, &running); mc != CURLM_OK)
    throw std::runtime_error("s3 " + what_ + ": " + curl_multi_strerror(mc));
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(conn_->multi, &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy()) {
      done_ = true;
      result_ = msg->data.result;
    }
  }
  if (wait && !done_ && !paused_ && buffered() == before) {
    if (CURLMcode mc = curl_multi_poll(conn_->multi, nullptr, 0, kPollMs, nullptr); mc != CURLM_OK)
      throw std::runtime_error("s3 " + what_ + ": " + curl_multi_strerror(mc));
  }
}

size_t S3Reader::read(char* buf, size_t n) {
  if (n == 0) return 0;
  while (buffered() == 0 && !done_) drive();
  if (buffered() > 0) {
    const size_t k = std::min(n, buffered());
    std::memcpy(buf, buf_.data() + off_, k);
    off_ += k;
    return k;
  }
  if (result_ != CURLE_OK)
    throw std::runtime_error("s3 " + what_ + ": transfer failed: " +
                             (error_buf_[0] ? std::string(error_buf_) : curl_easy_strerror(result_)));
  if (received_ != size_)
    throw std::runtime_error("s3 " + what_ + ": got " + std::to_string(received_) + " of " + std::to_string(size_) +
                             " bytes");
  return 0;
}

}  // namespace rend::store::s3
