#pragma once
// Append-only on-disk FIFO of opaque records: where an edge keeps telemetry batches
// while the ingest API is unreachable (SPEC §7), so they survive restarts and are
// replayed oldest first.
//
// Layout: SPOOL_DIR/seg-<20-digit sequence>.spool, oldest = lowest sequence. Each file
// starts with an 8-byte magic ("RENDSPL1"), then records framed as
//   u32 length (LE) | u32 CRC-32 of (length bytes + payload) (LE) | payload
// A record is durable once append() returns ok (write + fdatasync; the directory is
// fsync'd when a file is created). A record whose length runs past the end of the
// file or whose CRC mismatches (a torn write after a crash, a flipped byte) ends that
// file's valid data: everything after it in the same file is skipped, later files are
// read normally. Appends after a restart always go to a new file, never after a
// possibly torn tail.
//
// Lifecycle of a file:
//   created by append ─► active (appended to) ─► sealed (rotated at segment_bytes, on
//   restart, or after a write error) ─► deleted once every record in it was acknowledged
//   (pop_front past its last valid record). An active file whose records are all
//   acknowledged is deleted too, so a drained spool holds no files.
// A crash between a send and its pop_front re-sends that record after the restart (the
// read position is not persisted): consumers must be idempotent.
//
// Thread-safety: all methods may be called concurrently (one internal mutex; append
// holds it across the fdatasync), but front()/pop_front() assume a single consumer.
// Intended for background threads only: every call may block on disk.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "store/posix_file.h"

namespace rend::telemetry {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;      // bytes of all files on disk, headers included
  uint64_t segment_bytes = 8ull << 20;  // a file is sealed once it reaches this size
};

class Spool {
 public:
  enum class AppendResult { ok, full, failed };

  // Creates the directory if needed and finds files left by an earlier process (they
  // are sealed, replayed first). Throws std::runtime_error naming the directory when it
  // cannot be created or listed.
  explicit Spool(SpoolOptions opts);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // ok: the record is on disk (fdatasync'd). full: it would take the spool past
  // max_bytes (nothing written). failed: an I/O error (logged, nothing counted; the
  // file is cut back to its last good record and sealed). Never throws.
  AppendResult append(std::string_view record) noexcept;

  // The oldest unacknowledged valid record, or nullopt when there is none. Files found
  // to hold no further valid record are deleted on the way. Calling it again without
  // pop_front() returns the same record. Never throws (an unreadable file is logged and
  // skipped).
  std::optional<std::string> front() noexcept;
  // As front(), without reading or checking the payload: true when there is a record
  // (pop_front() then acknowledges it). For a consumer that kept its own copy of what
  // it appended (the API's ingest journal) and only needs the file trimmed.
  bool skip_front() noexcept;
  // Acknowledges the record the last front() returned; deletes its file when that was
  // the file's last valid record. No-op when front() returned nothing since.
  void pop_front() noexcept;

  // False when no file is left. May be true while only unreadable data remains; front()
  // resolves that (and deletes such files).
  bool empty() const;
  // Current size of all spool files on disk.
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  size_t files() const;

  static constexpr uint64_t kFileHeaderBytes = 8;
  static constexpr uint64_t kRecordHeaderBytes = 8;
  // Lengths above this are treated as corruption, not as a reason to allocate.
  static constexpr uint32_t kMaxRecordBytes = 256u << 20;

 private:
  struct Segment {
    std::filesystem::path path;
    uint64_t size = 0;   // bytes on disk (what counts against max_bytes)
    uint64_t valid = 0;  // readable prefix: appended by this process, or the whole file if recovered
    bool sealed = true;
  };
  using Segments = std::map<uint64_t, Segment>;

  std::filesystem::path path_for(uint64_t seq) const;
  AppendResult append_locked(std::string_view record);
  bool front_locked(std::string* out) noexcept;
  void seal_active_locked();
  void delete_segment_locked(Segments::iterator it);
  void set_bytes_locked();

  SpoolOptions opts_;
  mutable std::mutex mu_;
  Segments segments_;
  uint64_t next_seq_ = 1;
  // Active file (the newest segment while !sealed).
  std::optional<uint64_t> active_;
  store::posix::UniqueFd active_fd_;
  // Read position: offset inside the oldest segment. read_fd_ belongs to read_seq_.
  uint64_t read_offset_ = kFileHeaderBytes;
  uint64_t read_seq_ = 0;
  store::posix::UniqueFd read_fd_;
  std::optional<uint64_t> front_next_;  // offset after the record front() returned
  uint64_t total_ = 0;
  std::atomic<uint64_t> bytes_{0};
};

// CRC-32 (IEEE, as zlib) of the framing: length bytes then payload.
uint32_t spool_record_crc(uint32_t length, std::string_view payload);

}  // namespace rend::telemetry
