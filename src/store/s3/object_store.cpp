#include "store/s3/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/crypto.h"
#include "core/log.h"
#include "store/object_io.h"
#include "store/posix_file.h"
#include "store/s3/client.h"
#include "store/s3/md5.h"
#include "store/s3/reader.h"
#include "store/s3/url.h"
#include "store/s3/xml.h"

namespace rend::store::s3 {

namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for all parts but the last
constexpr uint64_t kMaxParts = 10000;          // S3's maximum part count
constexpr size_t kMaxDeleteBatch = 1000;       // DeleteObjects' maximum keys per request

// Everything a request needs, shared by the store and its writers and readers so
// that they stay valid whatever the destruction order.
struct Context {
  Context(const S3Config& cfg)
      : client(cfg.region, cfg.access_key_id, cfg.secret_access_key),
        urls(cfg.endpoint, cfg.bucket, cfg.path_style),
        key_prefix(cfg.key_prefix),
        health_url(cfg.health_url),
        part_size(cfg.part_size),
        list_page_size(cfg.list_page_size) {}

  Client client;
  UrlBuilder urls;
  std::string key_prefix;  // "" or ending with '/'
  std::string health_url;
  uint64_t part_size;
  int list_page_size;

  std::string full_key(const std::string& key) const { return key_prefix + key; }
};

void require_key(const std::string& key) {
  if (!is_valid_object_key(key)) throw std::invalid_argument("invalid object key: " + key);
}

void require_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.back() != '/') throw std::invalid_argument("object prefix must end with '/': " + prefix);
  require_key(prefix.substr(0, prefix.size() - 1));
}

// A body read from an in-memory string (a buffered part or a small object).
BodyReader memory_body(std::string_view data) {
  return [data, off = size_t(0)](char* buf, size_t n) mutable {
    const size_t k = std::min(n, data.size() - off);
    std::memcpy(buf, data.data() + off, k);
    off += k;
    return k;
  };
}

// A body read from [offset, offset + len) of a file with pread, so parts of one
// file can be sent without a shared file position.
BodyReader file_body(int fd, uint64_t offset, uint64_t len, std::string what) {
  return [fd, pos = offset, end = offset + len, what = std::move(what)](char* buf, size_t n) mutable -> size_t {
    const size_t want = size_t(std::min<uint64_t>(n, end - pos));
    if (want == 0) return 0;
    for (;;) {
      const ssize_t got = ::pread(fd, buf, want, off_t(pos));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) posix::throw_errno(what);
      if (got == 0) throw std::runtime_error(what + ": file shrank while uploading");
      pos += uint64_t(got);
      return size_t(got);
    }
  };
}

void put_object(const Context& ctx, const std::string& key, uint64_t size, BodyReader body) {
  Request req;
  req.method = "PUT";
  req.url = ctx.urls.object_url(ctx.full_key(key));
  req.upload_size = size;
  req.upload = std::move(body);
  req.what = "PUT " + key;
  Response r = ctx.client.perform(req);
  if (!r.ok()) throw_status(req.what, r);
}

// The four multipart requests, shared by the writer (which holds the state in
// memory) and the caller-held multipart writes of resumable uploads.
std::string create_multipart(const Context& ctx, const std::string& key) {
  Request req;
  req.method = "POST";
  req.url = ctx.urls.object_url(ctx.full_key(key), canonical_query({{"uploads", ""}}));
  // Stored as the object's type; without it curl's POST default (a form
  // encoding) would be.
  req.headers = {"Content-Type: application/octet-stream"};
  req.body = "";
  req.what = "create multipart upload " + key;
  Response r = ctx.client.perform(req);
  if (!r.ok()) throw_status(req.what, r);
  auto id = xml_first(r.body, "UploadId");
  if (!id || id->empty()) throw std::runtime_error("s3 " + req.what + ": response has no UploadId");
  return std::move(*id);
}

std::string put_part(const Context& ctx, const std::string& key, const std::string& upload_id, size_t number,
                     uint64_t size, BodyReader body) {
  if (number == 0) throw std::invalid_argument("part numbers start at 1");
  if (number > kMaxParts) throw std::runtime_error("s3 PUT " + key + ": object exceeds S3's 10000 parts");
  Request req;
  req.method = "PUT";
  req.url = ctx.urls.object_url(ctx.full_key(key),
                                canonical_query({{"partNumber", std::to_string(number)}, {"uploadId", upload_id}}));
  req.upload_size = size;
  req.upload = std::move(body);
  req.what = "upload part " + std::to_string(number) + " of " + key;
  Response r = ctx.client.perform(req);
  if (!r.ok()) throw_status(req.what, r);
  if (r.etag.empty()) throw std::runtime_error("s3 " + req.what + ": response has no ETag");
  return r.etag;
}

// Returns false when S3 no longer knows the upload (404 NoSuchUpload).
bool complete_parts(const Context& ctx, const std::string& key, const std::string& upload_id,
                    const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (size_t i = 0; i < etags.size(); ++i)
    xml +=
        "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + xml_escape(etags[i]) + "</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  Request req;
  req.method = "POST";
  req.url = ctx.urls.object_url(ctx.full_key(key), canonical_query({{"uploadId", upload_id}}));
  req.headers = {"Content-Type: application/xml"};
  req.body = std::move(xml);
  req.what = "complete multipart upload " + key;
  Response r = ctx.client.perform(req);
  if (r.status == 404) return false;
  // S3 can answer 200 and still fail: it starts the response before the
  // assembly is done and reports a late failure as an <Error> document.
  if (!r.ok() || r.body.find("<Error>") != std::string::npos ||
      r.body.find("<CompleteMultipartUploadResult") == std::string::npos) {
    if (r.ok()) r.status = 500;
    throw_status(req.what, r);
  }
  return true;
}

struct AbortUnsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void abort_parts(const Context& ctx, const std::string& key, const std::string& upload_id) {
  Request req;
  req.method = "DELETE";
  req.url = ctx.urls.object_url(ctx.full_key(key), canonical_query({{"uploadId", upload_id}}));
  req.what = "abort multipart upload " + key;
  Response r = ctx.client.perform(req);
  // 404 NoSuchUpload: already gone, which is the goal.
  if (r.status == 405 || r.status == 501) throw AbortUnsupported(req.what + ": not supported by the server");
  if (!r.ok() && r.status != 404) throw_status(req.what, r);
}

// One multipart upload; aborted on destruction unless completed, so a failure at
// any point (or an uncommitted writer) leaves no parts behind to be billed.
class MultipartUpload {
 public:
  MultipartUpload(std::shared_ptr<const Context> ctx, std::string key)
      : ctx_(std::move(ctx)), key_(std::move(key)), upload_id_(create_multipart(*ctx_, key_)) {}

  ~MultipartUpload() {
    if (completed_) return;
    try {
      abort_parts(*ctx_, key_, upload_id_);
    } catch (const std::exception& e) {
      // Invisible either way (an incomplete upload is never listed or readable);
      // a bucket lifecycle rule for incomplete uploads reclaims the parts.
      core::log::warn("s3_abort_multipart_failed", {{"key", key_}, {"error", std::string(e.what())}});
    }
  }

  MultipartUpload(const MultipartUpload&) = delete;
  MultipartUpload& operator=(const MultipartUpload&) = delete;

  void upload_part(uint64_t size, BodyReader body) {
    etags_.push_back(put_part(*ctx_, key_, upload_id_, etags_.size() + 1, size, std::move(body)));
  }

  void complete() {
    if (!complete_parts(*ctx_, key_, upload_id_, etags_))
      throw std::runtime_error("s3 complete multipart upload " + key_ + ": the upload no longer exists");
    completed_ = true;
  }

  size_t parts() const { return etags_.size(); }

 private:
  std::shared_ptr<const Context> ctx_;
  std::string key_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  bool completed_ = false;
};

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(std::shared_ptr<const Context> ctx, std::string key) : ctx_(std::move(ctx)), key_(std::move(key)) {}

  void write(const char* data, size_t n) override {
    if (committed_) throw std::logic_error("write after commit");
    if (failed_) throw std::logic_error("write after a failed write");
    try {
      while (n > 0) {
        const size_t take = size_t(std::min<uint64_t>(n, ctx_->part_size - buf_.size()));
        buf_.append(data, take);
        data += take;
        n -= take;
        written_ += take;
        // Exactly one full part buffered and more may follow: send it now, so
        // memory stays at one part whatever the object's size.
        if (buf_.size() == ctx_->part_size) flush_part();
      }
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  void commit() override {
    if (committed_) throw std::logic_error("commit called twice");
    if (failed_) throw std::logic_error("commit after a failed write");
    if (!upload_) {
      // Everything fit in one part: one PutObject, the cheapest atomic replace.
      put_object(*ctx_, key_, buf_.size(), memory_body(buf_));
    } else {
      if (!buf_.empty() || upload_->parts() == 0) upload_->upload_part(buf_.size(), memory_body(buf_));
      upload_->complete();
    }
    committed_ = true;
    buf_ = std::string();
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  void flush_part() {
    if (!upload_) {
      upload_ = std::make_unique<MultipartUpload>(ctx_, key_);
      buf_.reserve(ctx_->part_size);
    }
    upload_->upload_part(buf_.size(), memory_body(buf_));
    buf_.clear();
  }

  std::shared_ptr<const Context> ctx_;
  std::string key_;
  std::string buf_;
  std::unique_ptr<MultipartUpload> upload_;  // destroyed uncompleted = aborted
  uint64_t written_ = 0;
  bool committed_ = false;
  bool failed_ = false;
};

class S3ObjectStore final : public ObjectStore {
 public:
  explicit S3ObjectStore(const S3Config& cfg) : ctx_(std::make_shared<const Context>(cfg)) {}

  std::unique_ptr<ObjectWriter> begin_put(const std::string& key) override {
    require_key(key);
    return std::make_unique<S3Writer>(ctx_, key);
  }

  void put_bytes(const std::string& key, std::string_view data) override {
    require_key(key);
    put_object(*ctx_, key, data.size(), memory_body(data));
  }

  void put_file(const std::string& key, const std::string& local_path) override {
    require_key(key);
    posix::UniqueFd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) posix::throw_errno("open " + local_path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) posix::throw_errno("stat " + local_path);
    const uint64_t size = uint64_t(st.st_size);
    const std::string what = "read " + local_path;
    // Parts grow past the configured size only when the file would otherwise
    // need more than S3's 10000 parts (over 80 GB at 8 MiB).
    uint64_t part = std::max(ctx_->part_size, (size + kMaxParts - 1) / kMaxParts);
    part = (part + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    if (size <= part) {
      put_object(*ctx_, key, size, file_body(fd.get(), 0, size, what));
      return;
    }
    // Streamed from disk part by part; nothing is buffered in memory.
    MultipartUpload upload(ctx_, key);
    for (uint64_t off = 0; off < size; off += part) {
      const uint64_t len = std::min(part, size - off);
      upload.upload_part(len, file_body(fd.get(), off, len, what));
    }
    upload.complete();
  }

  std::unique_ptr<ObjectReader> get(const std::string& key) override {
    require_key(key);
    return S3Reader::open(ctx_->client, ctx_->urls.object_url(ctx_->full_key(key)), "GET " + key);
  }

  // The request leaves on the caller's thread (an edge's I/O thread: no wait), the
  // response is awaited on the finisher's (a fill worker).
  class StartedGet final : public PendingGet {
   public:
    explicit StartedGet(std::unique_ptr<S3Reader> r) : r_(std::move(r)) {}
    std::unique_ptr<ObjectReader> finish() override { return S3Reader::await_head(std::move(r_)); }

   private:
    std::unique_ptr<S3Reader> r_;
  };
  std::unique_ptr<PendingGet> start_get(const std::string& key) override {
    require_key(key);
    return std::make_unique<StartedGet>(
        S3Reader::start(ctx_->client, ctx_->urls.object_url(ctx_->full_key(key)), "GET " + key));
  }

  std::optional<ObjectInfo> head(const std::string& key) override {
    require_key(key);
    Request req;
    req.method = "HEAD";
    req.url = ctx_->urls.object_url(ctx_->full_key(key));
    req.what = "HEAD " + key;
    Response r = ctx_->client.perform(req);
    if (r.status == 404) return std::nullopt;
    if (!r.ok()) throw_status(req.what, r);
    if (!r.content_length) throw std::runtime_error("s3 " + req.what + ": response has no Content-Length");
    return ObjectInfo{*r.content_length};
  }

  bool get_to_file(const std::string& key, const std::string& local_path) override {
    auto reader = get(key);
    if (!reader) return false;
    // Written beside the destination and renamed, so local_path is either absent
    // (or its old contents) or the complete object, never a partial download.
    const std::string tmp = local_path + ".part-" + core::random_token(8);
    try {
      copy_reader_to_file(*reader, tmp);
      if (::rename(tmp.c_str(), local_path.c_str()) != 0) posix::throw_errno("rename to " + local_path);
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    return true;
  }

  std::vector<std::string> list(const std::string& prefix) override {
    require_prefix(prefix);
    std::vector<std::string> keys = list_full(ctx_->full_key(prefix));
    for (auto& k : keys) k.erase(0, ctx_->key_prefix.size());
    // S3 lists in UTF-8 byte order already; sorting keeps the contract explicit
    // and holds for stores that are less careful.
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  size_t delete_prefix(const std::string& prefix) override {
    if (prefix.empty() || prefix.back() != '/') {
      require_key(prefix);
      // DELETE answers 204 whether or not the key existed; HEAD first for the count.
      if (!head(prefix)) return 0;
      delete_one(ctx_->full_key(prefix), prefix);
      return 1;
    }
    require_prefix(prefix);
    const std::vector<std::string> keys = list_full(ctx_->full_key(prefix));
    for (size_t i = 0; i < keys.size(); i += kMaxDeleteBatch)
      delete_batch(keys, i, std::min(keys.size(), i + kMaxDeleteBatch), prefix);
    return keys.size();
  }

  // S3 replaces objects atomically; s3rver (the local double scripts/stack runs) writes
  // the object's file in place, so a reader racing a put can get a partial body. It is
  // recognised by the owner of its ListBuckets answer, asked once. Anything else, or
  // no answer (ListBuckets needs a permission Rend does not otherwise), is S3 as
  // specified.
  ObjectStoreCapabilities capabilities() override {
    std::call_once(caps_once_, [this] {
      caps_.atomic_replace = true;
      try {
        Request req;
        req.url = ctx_->urls.service_url();
        req.what = "ListBuckets";
        Response r = ctx_->client.perform(req);
        if (r.ok() && r.body.find("<DisplayName>S3rver</DisplayName>") != std::string::npos)
          caps_.atomic_replace = false;
      } catch (const std::exception&) {
        // Unreachable now: keep what S3 specifies.
      }
    });
    return caps_;
  }

  uint64_t multipart_min_part_bytes() const override { return kMinPartSize; }

  std::string begin_multipart(const std::string& key) override {
    require_key(key);
    return create_multipart(*ctx_, key);
  }

  StoredPart upload_part(const std::string& key, const std::string& handle, uint32_t number, uint64_t, uint64_t size,
                         const PartSource& body) override {
    require_key(key);
    return {size, put_part(*ctx_, key, handle, number, size, body)};
  }

  void complete_multipart(const std::string& key, const std::string& handle,
                          const std::vector<StoredPart>& parts) override {
    require_key(key);
    std::vector<std::string> etags;
    uint64_t total = 0;
    for (const auto& p : parts) {
      etags.push_back(p.etag);
      total += p.size;
    }
    try {
      if (complete_parts(*ctx_, key, handle, etags)) return;
    } catch (const std::exception&) {
      // s3rver answers a completed upload's id with 500, not 404: judged below.
      if (auto info = head(key); info && info->size == total) return;
      throw;
    }
    // Completed before (a retry after a crash between S3's answer and the caller's
    // bookkeeping): fine when the object is the assembled size.
    if (auto info = head(key); info && info->size == total) return;
    throw std::runtime_error("s3 complete multipart upload " + key + ": the upload no longer exists");
  }

  void abort_multipart(const std::string& key, const std::string& handle) override {
    require_key(key);
    try {
      abort_parts(*ctx_, key, handle);
      return;
    } catch (const AbortUnsupported&) {
    }
    // A server without AbortMultipartUpload (s3rver 3.7 answers 405) would keep the
    // parts forever. Its parts go away when the upload completes, so complete it as
    // one empty part and delete the object: the documented way callers use this
    // (an upload to a key that holds nothing else) loses nothing.
    try {
      const std::string etag = put_part(*ctx_, key, handle, 1, 0, memory_body({}));
      complete_parts(*ctx_, key, handle, {etag});
    } catch (const std::exception&) {
      // No such upload any more (aborted before): the goal.
      return;
    }
    delete_one(ctx_->full_key(key), key);
  }

  HealthStatus health() override {
    try {
      if (!ctx_->health_url.empty()) {
        std::string error;
        Response r = ctx_->client.probe(ctx_->health_url, error);
        if (r.status == 0) return {false, "object store health check failed: " + error};
        if (!r.ok()) return {false, "object store health check returned HTTP " + std::to_string(r.status)};
        return {true, "ok"};
      }
      Request req;
      req.method = "HEAD";
      req.url = ctx_->urls.bucket_url();
      req.what = "HEAD bucket";
      req.timeout_ms = kHealthTimeoutMs;
      Response r = ctx_->client.perform(req);
      if (r.ok()) return {true, "ok"};
      if (r.status == 404) return {false, "S3 bucket does not exist"};
      if (r.status == 403) return {false, "S3 denied access to the bucket (check credentials and region)"};
      return {false, "S3 bucket check returned HTTP " + std::to_string(r.status)};
    } catch (const std::exception& e) {
      // Our messages name operations and keys only, never URLs or credentials.
      return {false, e.what()};
    }
  }

 private:
  // Full S3 keys under a full prefix, every page.
  std::vector<std::string> list_full(const std::string& full_prefix) const {
    std::vector<std::string> keys;
    std::string token;
    for (;;) {
      std::vector<std::pair<std::string, std::string>> params{{"list-type", "2"},
                                                              {"prefix", full_prefix},
                                                              {"max-keys", std::to_string(ctx_->list_page_size)}};
      if (!token.empty()) params.emplace_back("continuation-token", token);
      Request req;
      req.url = ctx_->urls.bucket_url(canonical_query(std::move(params)));
      req.what = "list " + full_prefix.substr(ctx_->key_prefix.size());
      Response r = ctx_->client.perform(req);
      if (!r.ok()) throw_status(req.what, r);
      ListPage page = parse_list_page(r.body);
      for (auto& k : page.keys)
        if (k.starts_with(full_prefix)) keys.push_back(std::move(k));
      if (page.next_continuation_token.empty()) return keys;
      token = std::move(page.next_continuation_token);
    }
  }

  // DeleteObject on a full key; `what` names it for messages.
  void delete_one(const std::string& full_key, const std::string& what) const {
    Request req;
    req.method = "DELETE";
    req.url = ctx_->urls.object_url(full_key);
    req.what = "DELETE " + what;
    Response r = ctx_->client.perform(req);
    if (!r.ok() && r.status != 404) throw_status(req.what, r);
  }

  void delete_batch(const std::vector<std::string>& keys, size_t begin, size_t end, const std::string& prefix) const {
    std::string xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
    for (size_t i = begin; i < end; ++i) xml += "<Object><Key>" + xml_escape(keys[i]) + "</Key></Object>";
    xml += "</Delete>";
    Request req;
    req.method = "POST";
    req.url = ctx_->urls.bucket_url(canonical_query({{"delete", ""}}));
    // S3 refuses DeleteObjects without an integrity header.
    req.headers = {"Content-Type: application/xml", "Content-MD5: " + md5_base64(xml)};
    req.body = std::move(xml);
    req.what = "delete " + prefix;
    Response r = ctx_->client.perform(req);
    if (r.status >= 500) {
      // Deleting is idempotent, so a failed batch is safely redone key by key.
      // This also covers s3rver, whose DeleteObjects deletes the keys concurrently
      // and races itself removing their shared directories (HTTP 500).
      for (size_t i = begin; i < end; ++i) delete_one(keys[i], prefix);
      return;
    }
    if (!r.ok()) throw_status(req.what, r);
    // Per-key failures come back inside a 200 response.
    if (r.body.find("<Error>") != std::string::npos) {
      const auto code = xml_first(r.body, "Code");
      const auto key = xml_first(r.body, "Key");
      throw std::runtime_error("s3 " + req.what + ": could not delete " +
                               (key ? key->substr(std::min(key->size(), ctx_->key_prefix.size())) : "a key") + ": " +
                               code.value_or("unknown error"));
    }
  }

  std::shared_ptr<const Context> ctx_;
  std::once_flag caps_once_;
  ObjectStoreCapabilities caps_;
};

void global_init() {
  // curl_global_init is only thread-safe on some builds; do it once here so
  // callers (and tests) do not have to remember.
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

S3Config normalized(S3Config cfg) {
  if (cfg.endpoint.empty()) throw std::invalid_argument("S3_ENDPOINT is required for the s3 object store");
  if (cfg.bucket.empty()) throw std::invalid_argument("an S3 bucket is required for the s3 object store");
  if (cfg.region.empty()) cfg.region = "us-east-1";
  for (char c : cfg.region)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-'))
      throw std::invalid_argument("S3_REGION '" + cfg.region + "' is not a region name");
  if (cfg.access_key_id.empty() != cfg.secret_access_key.empty())
    throw std::invalid_argument("S3 access key id and secret access key must be set together");
  if (!cfg.key_prefix.empty()) {
    std::string p = cfg.key_prefix;
    if (p.back() == '/') p.pop_back();
    if (!is_valid_object_key(p)) throw std::invalid_argument("invalid S3 key prefix: " + cfg.key_prefix);
    cfg.key_prefix = p + "/";
  }
  if (cfg.part_size < kMinPartSize) throw std::invalid_argument("S3 part size must be at least 5 MiB");
  if (cfg.list_page_size < 1 || cfg.list_page_size > 1000)
    throw std::invalid_argument("S3 list page size must be within 1..1000");
  if (!cfg.health_url.empty() && !cfg.health_url.starts_with("http://") && !cfg.health_url.starts_with("https://"))
    throw std::invalid_argument("OBJECT_STORE_HEALTH_URL must be an http:// or https:// URL");
  return cfg;
}

}  // namespace

std::unique_ptr<ObjectStore> open_s3_object_store(S3Config cfg) {
  global_init();
  return std::make_unique<S3ObjectStore>(normalized(std::move(cfg)));
}

void create_s3_bucket_if_missing(const S3Config& raw) {
  global_init();
  const S3Config cfg = normalized(raw);
  Context ctx(cfg);
  Request head;
  head.method = "HEAD";
  head.url = ctx.urls.bucket_url();
  head.what = "HEAD bucket";
  Response r = ctx.client.perform(head);
  if (r.ok()) return;
  if (r.status != 404) throw_status(head.what, r);

  Request put;
  put.method = "PUT";
  put.url = ctx.urls.bucket_url();
  put.what = "create bucket";
  // us-east-1 is the default location and AWS rejects it spelled out.
  put.body = cfg.region == "us-east-1"
                 ? ""
                 : "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
                       cfg.region + "</LocationConstraint></CreateBucketConfiguration>";
  r = ctx.client.perform(put);
  // Another test process may have created it in between.
  if (!r.ok() && r.status != 409) throw_status(put.what, r);
}

}  // namespace rend::store::s3
