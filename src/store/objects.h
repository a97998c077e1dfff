#pragma once
// Object storage for sources and HLS artifacts.
//
// Implementations: fs/ (a directory; the embedded default) and s3/ (any S3-compatible
// server: S3_ENDPOINT + S3_BUCKET). One contract suite (objects_contract_test.cpp) runs
// against each.
// Keys are relative, '/'-separated, made of [A-Za-z0-9._-] segments, never "." or
// ".." and never starting with '/'; implementations reject anything else with
// std::invalid_argument before touching storage.
//
// Layout used by Rend:
//   sources/{asset_id}            the uploaded file, as uploaded
//   assets/{asset_id}/...         HLS artifacts (master.m3u8, {rung}/index.m3u8, {rung}/seg_N.ts, poster.jpg)
//
// Object lifecycle: a put is invisible until commit(); a writer destroyed without
// commit() leaves nothing behind (so an aborted or oversized upload stores nothing),
// and a reader sees either the old or the new object, never a partial one (unless
// the store declares otherwise in capabilities(): see ObjectStoreCapabilities).
//
// Thread-safety: every method may be called from any thread concurrently.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rend::store {

struct ObjectInfo {
  uint64_t size = 0;
};

class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;  // aborts when not committed
  virtual void write(const char* data, size_t n) = 0;
  // Makes the object visible under its key (atomically replacing any old one).
  virtual void commit() = 0;
  virtual uint64_t bytes_written() const = 0;
};

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Returns 0 at end; throws std::runtime_error on an I/O error.
  virtual size_t read(char* buf, size_t n) = 0;
  virtual uint64_t size() const = 0;
};

// What a store declares it guarantees beyond the required operations (Envoy's style:
// the implementation says what it supports, so callers and the contract tests branch
// on the declaration instead of probing for a particular server).
struct ObjectStoreCapabilities {
  // Replacing an object is atomic: a reader racing a put of the same key gets the old
  // or the new object whole, never an empty, mixed or truncated body. S3 guarantees it;
  // s3rver, the local S3 double, rewrites the object's file in place and does not.
  bool atomic_replace = false;
  // upload_part may pull its body at the pace of a client's upload (the directory
  // store: a file write). S3 does not declare it: a part request left waiting on a
  // slow client would be cut off by the server.
  bool streamed_parts = false;
};

// Fills up to n bytes of a part's body; returns 0 only at its end; may throw.
using PartSource = std::function<size_t(char* buf, size_t n)>;

// One stored part of a multipart write: its size and the store's tag for it (S3's
// ETag; the fs store's is informational).
struct StoredPart {
  uint64_t size = 0;
  std::string etag;
};

struct HealthStatus {
  bool ok = false;
  std::string detail;  // never contains credentials
};

// A get() started by ObjectStore::start_get and collected later, possibly on another
// thread (one at a time).
class PendingGet {
 public:
  virtual ~PendingGet() = default;  // dropping it unfinished cancels the request
  // As get(): waits for the answer; nullptr when the key does not exist; throws on failure.
  virtual std::unique_ptr<ObjectReader> finish() = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual std::unique_ptr<ObjectWriter> begin_put(const std::string& key) = 0;
  // Convenience: whole small object, or a local file streamed in.
  virtual void put_bytes(const std::string& key, std::string_view data) = 0;
  virtual void put_file(const std::string& key, const std::string& local_path) = 0;
  // nullptr when the key does not exist.
  virtual std::unique_ptr<ObjectReader> get(const std::string& key) = 0;
  // get() in two halves: a store that can send its request without waiting (S3) does
  // so here, and never blocks, so that the origin's time to the first byte runs while
  // the caller hands the rest to a worker (the edge's cold fills); finish() waits. The
  // default sends nothing until finish(), which calls get(). May throw as get().
  virtual std::unique_ptr<PendingGet> start_get(const std::string& key);
  virtual std::optional<ObjectInfo> head(const std::string& key) = 0;
  // Copies the object to a local file; false when it does not exist.
  virtual bool get_to_file(const std::string& key, const std::string& local_path) = 0;
  // Keys under prefix (prefix ends with '/'), sorted.
  virtual std::vector<std::string> list(const std::string& prefix) = 0;
  // Deletes every key under prefix (prefix ends with '/') or the single key; returns count.
  virtual size_t delete_prefix(const std::string& prefix) = 0;
  virtual HealthStatus health() = 0;
  // May ask the service once (cached), so call it off the hot path.
  virtual ObjectStoreCapabilities capabilities() = 0;

  // Multipart writes whose state the caller keeps (resumable uploads that outlive a
  // process): begin_multipart returns an opaque handle; the caller stores it and the
  // parts' StoredPart records (e.g. in the metadata store), so any process can go on.
  // Nothing is visible under `key` until complete_multipart.
  //
  // Every part but the last must be at least multipart_min_part_bytes(). Part numbers
  // start at 1 and the caller sends them in order; re-sending a part number replaces
  // it (a retry after a crash). `offset` is the sum of the sizes of parts 1..number-1
  // (the fs store writes there; S3 numbers the part). A returned part is durable.
  // complete_multipart assembles exactly `parts` and is idempotent: completing an
  // already completed upload whose object has the parts' total size succeeds.
  // abort_multipart discards everything and is idempotent; use it only for a key that
  // holds no other object (on an S3 server without AbortMultipartUpload, such as
  // s3rver, it completes the upload and deletes the key, so no parts stay behind).
  // Stores without the capability throw std::logic_error (the default).
  virtual uint64_t multipart_min_part_bytes() const { return 1; }
  virtual std::string begin_multipart(const std::string& key);
  virtual StoredPart upload_part(const std::string& key, const std::string& handle, uint32_t number, uint64_t offset,
                                 uint64_t size, const PartSource& body);
  virtual void complete_multipart(const std::string& key, const std::string& handle,
                                  const std::vector<StoredPart>& parts);
  virtual void abort_multipart(const std::string& key, const std::string& handle);
};

// Validates an object key as described above (shared by all implementations).
bool is_valid_object_key(std::string_view key);

}  // namespace rend::store
