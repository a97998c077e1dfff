#pragma once
// Resumable uploads (tus) on top of the metadata store and the object store's
// multipart writes. The upload's state (offset, part ETags, the buffered tail, the
// expiry) lives in the metadata store, so any API process, or one restarted, goes on
// where another stopped.
//
// Storage: bytes go to one multipart write of sources/{asset_id}. Parts are cut at
// kPartBytes; a request that ends short of a part the store accepts (S3: 5 MiB) leaves
// its bytes as a "tail" object uploads/{upload_id}/tail-{offset} (durable, visible to
// every process), which becomes the head of the next part. Memory per request: one part.
//
// Durability: an offset is recorded (and so acknowledged to the client) only after the
// bytes below it are in a stored part or tail object. A crash in between loses only
// unacknowledged bytes, which the client sends again (a part number re-sent replaces
// the interrupted one). When the last byte is recorded the multipart write is completed
// and the upload completed with the same store call a PUT uses (the asset is queued
// once); a crash between the two is finished by the next request (finish_if_stored).
//
// Exclusion: every write runs under the upload's receiving claim (the lease a PUT
// takes), so two requests never move one upload at once, even across processes.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"
#include "uploads/settings.h"
#include "uploads/tus.h"

namespace rend::uploads {

// Reads up to n request-body bytes; 0 at the end; throws when the client is gone.
using BodyRead = std::function<size_t(char* buf, size_t n)>;

inline constexpr uint64_t kPartBytes = 8ull << 20;

enum class Outcome {
  ok,                 // appended (maybe nothing); `offset` is the new offset
  busy,               // another request holds the upload
  gone,               // not pending any more (completed, expired, terminated, deleted)
  offset_mismatch,    // Upload-Offset is not the upload's offset
  too_large,          // the body goes past Upload-Length
  checksum_mismatch,  // Upload-Checksum does not match the body: nothing kept
  interrupted,        // the body ended early; what arrived before is kept
};

struct AppendResult {
  Outcome outcome = Outcome::ok;
  int64_t offset = 0;
  bool completed = false;  // this request completed the upload
};

class ResumableUploads {
 public:
  ResumableUploads(store::MetadataStore& meta, store::ObjectStore& objects, store::Coordinator& coord,
                   const core::Clock& clock, Settings settings);

  const Settings& settings() const { return settings_; }
  // The object key a finished upload of `asset_id` is stored under (a PUT's too).
  static std::string source_key(const std::string& asset_id) { return "sources/" + asset_id; }

  // Starts the storage of a new upload; returns its multipart handle.
  std::string begin_storage(const std::string& asset_id);
  // Discards the storage of an upload that was never recorded (creation failed).
  void discard_storage(const std::string& asset_id, const std::string& handle);

  // Appends the body at `offset` (the client's Upload-Offset). `content_length` when
  // known is checked against the length first; `checksum` (sha1) is verified over the
  // whole body before anything is recorded.
  AppendResult append(const std::string& upload_id, int64_t offset, const BodyRead& body,
                      std::optional<uint64_t> content_length, const std::optional<Checksum>& checksum);

  // An upload whose bytes are all recorded but which is not completed (its process
  // died in between): completes it. True when the upload is complete now.
  bool finish_if_stored(const std::string& upload_id);

  // Ends a pending upload as "terminated" (DELETE) or "expired" (the sweeper):
  // discards its storage and records the end. busy / gone / ok.
  Outcome end(const std::string& upload_id, const std::string& status);

  // One sweep: ends every expired upload it can claim now; returns how many.
  int sweep_expired();

 private:
  struct Claim;
  bool finish(const store::Upload& u, const std::string& claim);
  void delete_tail_objects(const std::string& upload_id, const std::vector<store::UploadChunk>& tail);

  store::MetadataStore& meta_;
  store::ObjectStore& objects_;
  store::Coordinator& coord_;
  const core::Clock& clock_;
  Settings settings_;
  // Part buffers of finished requests, reused: a fresh 8 MiB buffer per PATCH cost a
  // page fault and a zeroed page every 4 KiB (a tenth of a tus upload's CPU time).
  // At most kSpareBuffers are kept.
  std::mutex spare_mu_;
  std::vector<std::unique_ptr<char[]>> spare_;
};

}  // namespace rend::uploads
