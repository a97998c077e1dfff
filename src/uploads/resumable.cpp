#include "uploads/resumable.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/ids.h"
#include "core/log.h"

namespace rend::uploads {
namespace {

// The receiving claim, as a PUT holds it (api/uploads.cpp): a short lease renewed
// while bytes flow, so a process that dies mid-request blocks the upload for
// seconds, not forever.
constexpr int64_t kClaimLeaseMs = 20'000;
constexpr auto kRenewEvery = std::chrono::seconds(5);
// Each body read: the HTTP server fills it straight from the socket; small enough to
// stay in the CPU's cache between that copy and the SHA-1 (with a checksum).
constexpr size_t kReadChunk = 128 * 1024;
constexpr int kSweepBatch = 100;
constexpr size_t kSpareBuffers = 2;

std::string tail_prefix(const std::string& upload_id) { return "uploads/" + upload_id + "/"; }
std::string tail_key(const std::string& upload_id, int64_t offset) {
  return tail_prefix(upload_id) + "tail-" + std::to_string(offset);
}

int64_t total(const std::vector<store::UploadChunk>& chunks) {
  int64_t n = 0;
  for (const auto& c : chunks) n += c.size;
  return n;
}

}  // namespace

struct ResumableUploads::Claim {
  ResumableUploads& r;
  std::string upload_id;
  std::string id = core::new_id("rcv");
  bool held = false;
  core::SteadyTime renewed_at{};

  bool take() {
    held = r.meta_.claim_upload(upload_id, id, r.clock_.now_unix_ms(), kClaimLeaseMs);
    renewed_at = r.clock_.steady_now();
    return held;
  }
  // False when the lease was lost (this request stalled past it and another took over).
  bool renew_if_due() {
    if (r.clock_.steady_now() - renewed_at < kRenewEvery) return true;
    renewed_at = r.clock_.steady_now();
    held = r.meta_.renew_upload_claim(upload_id, id, r.clock_.now_unix_ms(), kClaimLeaseMs);
    return held;
  }
  ~Claim() {
    if (!held) return;
    try {
      r.meta_.release_upload_claim(upload_id, id);
    } catch (const std::exception& e) {
      core::log::warn("upload_claim_release_failed", {{"upload_id", upload_id}, {"error", e.what()}});
    }
  }
};

ResumableUploads::ResumableUploads(store::MetadataStore& meta, store::ObjectStore& objects, store::Coordinator& coord,
                                   const core::Clock& clock, Settings settings)
    : meta_(meta), objects_(objects), coord_(coord), clock_(clock), settings_(settings) {}

std::string ResumableUploads::begin_storage(const std::string& asset_id) {
  return objects_.begin_multipart(source_key(asset_id));
}

void ResumableUploads::discard_storage(const std::string& asset_id, const std::string& handle) {
  try {
    objects_.abort_multipart(source_key(asset_id), handle);
  } catch (const std::exception& e) {
    core::log::warn("upload_storage_discard_failed", {{"asset_id", asset_id}, {"error", e.what()}});
  }
}

AppendResult ResumableUploads::append(const std::string& upload_id, int64_t offset, const BodyRead& body,
                                      std::optional<uint64_t> content_length, const std::optional<Checksum>& checksum) {
  Claim claim{*this, upload_id};
  if (!claim.take()) {
    auto u = meta_.get_upload(upload_id);
    if (!u || u->status != "pending") return {Outcome::gone, 0};
    return {Outcome::busy, u->progress.offset};
  }
  // Read again under the claim: the caller's copy may predate a request that just ended.
  const auto u = meta_.get_upload(upload_id);
  if (!u || u->status != "pending" || u->protocol != "tus" || !u->expected_bytes) return {Outcome::gone, 0};
  const int64_t length = *u->expected_bytes;
  store::UploadProgress recorded = u->progress;
  if (offset != recorded.offset) return {Outcome::offset_mismatch, recorded.offset};
  if (content_length && *content_length > uint64_t(length - offset)) return {Outcome::too_large, recorded.offset};

  const std::string key = source_key(u->asset_id);
  const uint64_t min_part = objects_.multipart_min_part_bytes();
  const uint64_t part_bytes = std::max(kPartBytes, min_part);
  // With a checksum nothing is recorded before the whole body is verified: a part sent
  // meanwhile is replaced by the client's retry (same part number), and superseded
  // tail objects are only deleted once a new state is recorded.
  const bool defer = checksum.has_value();
  std::optional<Sha1> sha;
  if (checksum) sha.emplace();

  std::vector<store::UploadChunk> parts = recorded.parts, tail = recorded.tail, superseded;
  // Received, not yet in a part or tail object: at most one part. The body is read
  // straight into it (no staging copy), never past the current part's end, so a
  // flush takes the whole buffer and nothing is moved. Allocated once, uninitialized:
  // zero-filling 8 MiB per request would be one more pass over the bytes.
  struct {
    std::unique_ptr<char[]> data;
    size_t size = 0;
    bool empty() const { return size == 0; }
    void erase_front(size_t n) {
      std::memmove(data.get(), data.get() + n, size - n);
      size -= n;
    }
  } buf;
  {
    std::lock_guard lk(spare_mu_);
    if (!spare_.empty()) {
      buf.data = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  if (!buf.data) buf.data.reset(new char[part_bytes]);
  struct GiveBack {
    ResumableUploads& r;
    std::unique_ptr<char[]>& data;
    ~GiveBack() {
      std::lock_guard lk(r.spare_mu_);
      if (r.spare_.size() < kSpareBuffers) r.spare_.push_back(std::move(data));
    }
  } give_back{*this, buf.data};
  int64_t pos = offset;

  auto record = [&]() -> bool {
    store::UploadProgress p{total(parts) + total(tail), parts, tail};
    if (p.parts == recorded.parts && p.tail == recorded.tail) return true;
    if (!meta_.save_upload_progress(upload_id, claim.id, p)) return false;
    recorded = std::move(p);
    delete_tail_objects(upload_id, superseded);
    superseded.clear();
    return true;
  };
  // A body read failed (the client went away) or the claim was lost while a part was
  // being streamed: set before the source throws, to tell it from a store failure.
  bool interrupted = false, claim_lost = false;
  // Reads up to `want` body bytes to the end of buf (the caller leaves room).
  auto read_body = [&](size_t want) -> size_t {
    char* into = buf.data.get() + buf.size;
    size_t n = 0;
    try {
      n = body(into, want);
    } catch (const std::exception& e) {
      core::log::warn("upload_patch_interrupted", {{"upload_id", upload_id}, {"error", e.what()}});
      interrupted = true;
      throw;
    }
    if (sha) sha->update(into, n);
    buf.size += n;
    pos += int64_t(n);
    return n;
  };
  // One part: the buffered tail objects, then the first n bytes of buf, then (streamed)
  // `more` bytes read from the body meanwhile, so the store writes while the client
  // sends instead of after it. A streamed part that fails for want of body bytes
  // leaves them all in buf, as if buffered.
  auto flush_part = [&](size_t n, size_t more) {
    const uint64_t size = uint64_t(total(tail)) + n + more;
    size_t ti = 0, taken = 0;
    const size_t end = n + more;
    std::unique_ptr<store::ObjectReader> reader;
    store::PartSource source = [&](char* out, size_t want) -> size_t {
      while (ti < tail.size()) {
        if (!reader && !(reader = objects_.get(tail[ti].ref)))
          throw std::runtime_error("buffered chunk " + tail[ti].ref + " is missing");
        if (size_t got = reader->read(out, want)) return got;
        reader.reset();
        ++ti;
      }
      if (taken == buf.size && taken < end) {
        if (read_body(std::min(kReadChunk, end - taken)) == 0) {
          interrupted = true;
          throw std::runtime_error("the request body ended early");
        }
        if (!claim.renew_if_due()) {
          claim_lost = true;
          throw std::runtime_error("the upload's claim was lost");
        }
      }
      const size_t k = std::min({want, end - taken, buf.size - taken});
      std::memcpy(out, buf.data.get() + taken, k);
      taken += k;
      return k;
    };
    auto stored = objects_.upload_part(key, u->multipart_handle, uint32_t(parts.size() + 1), uint64_t(total(parts)),
                                       size, source);
    parts.push_back({int64_t(stored.size), stored.etag});
    superseded.insert(superseded.end(), tail.begin(), tail.end());
    tail.clear();
    buf.erase_front(end);
  };
  // Streaming needs the store's consent (an S3 part would stay open at the client's
  // pace) and a Content-Length: the part's size is declared before its bytes arrive.
  const bool can_stream = content_length && objects_.capabilities().streamed_parts;

  for (;;) {
    // A part this request will fill (or the upload's last part, which it ends) is
    // streamed to the store as its bytes arrive.
    if (can_stream) {
      const uint64_t declared_left = *content_length - uint64_t(pos - offset);
      const uint64_t have = uint64_t(total(tail)) + buf.size;
      const uint64_t room = part_bytes - std::min(part_bytes, have);
      const bool fills = declared_left >= room && room > 0;
      const bool ends = declared_left > 0 && uint64_t(pos) + declared_left == uint64_t(length) && declared_left < room;
      if (fills || ends) {
        try {
          flush_part(buf.size, size_t(fills ? room : declared_left));
        } catch (const std::exception&) {
          if (claim_lost) return {Outcome::busy, recorded.offset};
          if (!interrupted) throw;  // the store failed: as for a buffered part
          break;
        }
        if (!defer && !record()) return {Outcome::busy, recorded.offset};
        if (!claim.renew_if_due()) return {Outcome::busy, recorded.offset};
        continue;
      }
    }
    // Up to the end of the part being filled (or of the upload), and one byte past the
    // upload's end, which proves the body too long.
    const uint64_t part_room = part_bytes - std::min<uint64_t>(part_bytes, uint64_t(total(tail)) + buf.size);
    const uint64_t upload_room = uint64_t(length - pos);
    size_t want = size_t(std::min<uint64_t>({kReadChunk, part_room, upload_room}));
    if (want == 0) {  // the buffer is full up to the upload's end: only an excess byte can come
      if (upload_room > 0) throw std::logic_error("a full part was not flushed");
      char extra = 0;
      size_t n = 0;
      try {
        n = body(&extra, 1);
      } catch (const std::exception& e) {
        core::log::warn("upload_patch_interrupted", {{"upload_id", upload_id}, {"error", e.what()}});
        interrupted = true;
        break;
      }
      if (n == 0) break;
      return {Outcome::too_large, recorded.offset};
    }
    size_t n = 0;
    try {
      n = read_body(want);
    } catch (const std::exception&) {
      break;  // interrupted
    }
    if (n == 0) break;
    // The upload's last part waits for the end of the body (below), so that a byte
    // past the upload's end is refused before it is stored.
    while (pos < length && uint64_t(total(tail)) + buf.size >= part_bytes) {
      flush_part(size_t(part_bytes - uint64_t(total(tail))), 0);
      if (!defer && !record()) return {Outcome::busy, recorded.offset};
    }
    if (!claim.renew_if_due()) return {Outcome::busy, recorded.offset};
  }
  if (interrupted && defer) return {Outcome::interrupted, recorded.offset};
  if (sha && sha->digest() != checksum->digest) return {Outcome::checksum_mismatch, recorded.offset};

  // What is left becomes the last part, or a tail object until a part is full.
  const bool final = pos == length;
  if (!buf.empty() || (final && !tail.empty())) {
    if (final || uint64_t(total(tail)) + buf.size >= min_part) {
      flush_part(buf.size, 0);
    } else {
      const int64_t at = pos - int64_t(buf.size);
      objects_.put_bytes(tail_key(upload_id, at), std::string_view(buf.data.get(), buf.size));
      tail.push_back({int64_t(buf.size), tail_key(upload_id, at)});
      buf.size = 0;
    }
  }
  if (!record()) return {Outcome::busy, recorded.offset};
  if (final) {
    store::Upload done = *u;
    done.progress = recorded;
    const bool completed = finish(done, claim.id);
    if (completed) claim.held = false;  // completing clears the claim
    return {completed ? Outcome::ok : Outcome::gone, recorded.offset, completed};
  }
  return {interrupted ? Outcome::interrupted : Outcome::ok, recorded.offset};
}

bool ResumableUploads::finish(const store::Upload& u, const std::string& claim) {
  (void)claim;  // held by the caller for the whole completion
  std::vector<store::StoredPart> parts;
  for (const auto& p : u.progress.parts) parts.push_back({uint64_t(p.size), p.ref});
  objects_.complete_multipart(source_key(u.asset_id), u.multipart_handle, parts);
  try {
    meta_.complete_upload(u.id, *u.expected_bytes, clock_.now_unix_ms());
  } catch (const store::StoreError&) {
    // Completed by another process meanwhile, or the asset was deleted.
    auto again = meta_.get_upload(u.id);
    return again && again->status == "complete";
  }
  coord_.notify_job();
  try {
    objects_.delete_prefix(tail_prefix(u.id));
  } catch (const std::exception& e) {
    core::log::warn("upload_tail_cleanup_failed", {{"upload_id", u.id}, {"error", e.what()}});
  }
  core::log::info("upload_received",
                  {{"asset_id", u.asset_id}, {"upload_id", u.id}, {"bytes", *u.expected_bytes}, {"protocol", "tus"}});
  return true;
}

void ResumableUploads::delete_tail_objects(const std::string& upload_id, const std::vector<store::UploadChunk>& tail) {
  for (const auto& c : tail) {
    try {
      objects_.delete_prefix(c.ref);
    } catch (const std::exception& e) {
      // Left for the completion's or the expiry's prefix delete.
      core::log::warn("upload_tail_cleanup_failed", {{"upload_id", upload_id}, {"error", e.what()}});
    }
  }
}

bool ResumableUploads::finish_if_stored(const std::string& upload_id) {
  auto u = meta_.get_upload(upload_id);
  if (!u) return false;
  if (u->status == "complete") return true;
  if (u->status != "pending" || u->protocol != "tus" || !u->expected_bytes || u->progress.offset != *u->expected_bytes)
    return false;
  Claim claim{*this, upload_id};
  if (!claim.take()) return false;
  u = meta_.get_upload(upload_id);
  if (!u || u->status != "pending" || u->progress.offset != *u->expected_bytes) return u && u->status == "complete";
  const bool done = finish(*u, claim.id);
  if (done) claim.held = false;
  return done;
}

Outcome ResumableUploads::end(const std::string& upload_id, const std::string& status) {
  Claim claim{*this, upload_id};
  if (!claim.take()) {
    auto u = meta_.get_upload(upload_id);
    return !u || u->status != "pending" ? Outcome::gone : Outcome::busy;
  }
  auto u = meta_.get_upload(upload_id);
  if (!u || u->status != "pending") return Outcome::gone;
  // Storage first: a crash after it leaves a pending upload the next sweep ends again
  // (both steps are idempotent); the reverse order could leak the parts.
  if (!u->multipart_handle.empty()) objects_.abort_multipart(source_key(u->asset_id), u->multipart_handle);
  objects_.delete_prefix(tail_prefix(upload_id));
  if (!meta_.end_upload(upload_id, claim.id, status, clock_.now_unix_ms())) return Outcome::busy;
  claim.held = false;
  core::log::info(status == "expired" ? "upload_expired" : "upload_terminated",
                  {{"upload_id", upload_id}, {"asset_id", u->asset_id}, {"offset", u->progress.offset}});
  return Outcome::ok;
}

int ResumableUploads::sweep_expired() {
  int ended = 0;
  for (const auto& u : meta_.expired_uploads(clock_.now_unix_ms(), kSweepBatch)) {
    try {
      if (end(u.id, "expired") == Outcome::ok) ++ended;
    } catch (const std::exception& e) {
      core::log::warn("upload_expiry_failed", {{"upload_id", u.id}, {"error", e.what()}});
    }
  }
  return ended;
}

}  // namespace rend::uploads
