#include "telemetry/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "core/log.h"

namespace rend::telemetry {
namespace {

namespace fs = std::filesystem;
namespace log = core::log;

constexpr char kMagic[Spool::kFileHeaderBytes] = {'R', 'E', 'N', 'D', 'S', 'P', 'L', '1'};
constexpr std::string_view kPrefix = "seg-";
constexpr std::string_view kSuffix = ".spool";
constexpr size_t kSeqDigits = 20;

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = char((v >> (8 * i)) & 0xff);
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}

// Sequence number of a spool file name, or nullopt for anything else in the directory.
std::optional<uint64_t> parse_name(const std::string& name) {
  if (name.size() != kPrefix.size() + kSeqDigits + kSuffix.size()) return std::nullopt;
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  if (name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) return std::nullopt;
  const char* b = name.data() + kPrefix.size();
  uint64_t seq = 0;
  auto [p, ec] = std::from_chars(b, b + kSeqDigits, seq);
  if (ec != std::errc() || p != b + kSeqDigits || seq == 0) return std::nullopt;
  return seq;
}

// Reads exactly n bytes at off. False on a short file or an I/O error (errno set for the latter).
bool pread_exact(int fd, char* buf, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      errno = 0;
      return false;
    }
    buf += r;
    n -= size_t(r);
    off += uint64_t(r);
  }
  return true;
}

bool fsync_dir(const fs::path& dir) {
  store::posix::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return false;
  while (::fsync(fd.get()) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

}  // namespace

uint32_t spool_record_crc(uint32_t length, std::string_view payload) {
  char len[4];
  put_u32(len, length);
  // zlib's CRC-32 (the same IEEE CRC as boost::crc_32_type, so files written before
  // still read): several times faster than a byte-at-a-time table, which mattered once
  // the API journals every telemetry batch (write and read back: 2 x ~100 MB a second).
  uLong crc = ::crc32_z(0L, reinterpret_cast<const Bytef*>(len), sizeof len);
  crc = ::crc32_z(crc, reinterpret_cast<const Bytef*>(payload.data()), payload.size());
  return uint32_t(crc);
}

Spool::Spool(SpoolOptions opts) : opts_(std::move(opts)) {
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) throw std::runtime_error("telemetry spool: cannot create directory " + opts_.dir + ": " + ec.message());
  fs::directory_iterator it(opts_.dir, ec);
  if (ec) throw std::runtime_error("telemetry spool: cannot list directory " + opts_.dir + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    auto seq = parse_name(it->path().filename().string());
    if (!seq) continue;
    std::error_code sec;
    uint64_t size = it->file_size(sec);
    if (sec) continue;
    // Everything found at start is sealed: a tail torn by the crash must never have
    // records appended after it, or those would be unreachable.
    segments_[*seq] = Segment{it->path(), size, size, true};
    total_ += size;
    next_seq_ = std::max(next_seq_, *seq + 1);
  }
  if (ec) throw std::runtime_error("telemetry spool: cannot list directory " + opts_.dir + ": " + ec.message());
  set_bytes_locked();
  if (!segments_.empty()) {
    log::info("edge_telemetry_spool_recovered",
              {{"dir", opts_.dir}, {"files", uint64_t(segments_.size())}, {"bytes", total_}});
  }
}

Spool::~Spool() = default;

fs::path Spool::path_for(uint64_t seq) const {
  std::string digits = std::to_string(seq);
  std::string name(kPrefix);
  name.append(kSeqDigits - digits.size(), '0');
  name += digits;
  name += kSuffix;
  return fs::path(opts_.dir) / name;
}

void Spool::set_bytes_locked() { bytes_.store(total_, std::memory_order_relaxed); }

Spool::AppendResult Spool::append(std::string_view record) noexcept {
  std::lock_guard lk(mu_);
  try {
    return append_locked(record);
  } catch (const std::exception& e) {
    // Only allocation failures get here: I/O errors are handled in append_locked.
    log::error("edge_telemetry_spool_append_failed", {{"dir", opts_.dir}, {"error", e.what()}});
    return AppendResult::failed;
  }
}

Spool::AppendResult Spool::append_locked(std::string_view record) {
  if (record.size() > kMaxRecordBytes) return AppendResult::full;
  if (active_ && segments_.at(*active_).size >= opts_.segment_bytes) seal_active_locked();
  const uint64_t framed = kRecordHeaderBytes + record.size();
  const uint64_t need = framed + (active_ ? 0 : kFileHeaderBytes);
  if (total_ + need > opts_.max_bytes) return AppendResult::full;

  if (!active_) {
    const uint64_t seq = next_seq_++;
    fs::path path = path_for(seq);
    store::posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644));
    if (!fd) {
      log::error("edge_telemetry_spool_append_failed",
                 {{"file", path.string()}, {"op", "open"}, {"error", std::strerror(errno)}});
      return AppendResult::failed;
    }
    try {
      store::posix::write_all(fd.get(), kMagic, sizeof kMagic, "write");
    } catch (const std::exception& e) {
      log::error("edge_telemetry_spool_append_failed", {{"file", path.string()}, {"error", e.what()}});
      ::unlink(path.c_str());
      return AppendResult::failed;
    }
    // The record's fdatasync below makes the data durable; the directory entry needs
    // its own fsync, once per file.
    if (!fsync_dir(opts_.dir)) {
      log::error("edge_telemetry_spool_append_failed",
                 {{"file", path.string()}, {"op", "fsync dir"}, {"error", std::strerror(errno)}});
      ::unlink(path.c_str());
      return AppendResult::failed;
    }
    segments_[seq] = Segment{path, kFileHeaderBytes, kFileHeaderBytes, false};
    total_ += kFileHeaderBytes;
    active_ = seq;
    active_fd_ = std::move(fd);
    set_bytes_locked();
  }

  Segment& seg = segments_.at(*active_);
  char hdr[kRecordHeaderBytes];
  put_u32(hdr, uint32_t(record.size()));
  put_u32(hdr + 4, spool_record_crc(uint32_t(record.size()), record));
  try {
    store::posix::write_all(active_fd_.get(), hdr, sizeof hdr, "write");
    store::posix::write_all(active_fd_.get(), record.data(), record.size(), "write");
    while (::fdatasync(active_fd_.get()) != 0) {
      if (errno != EINTR) store::posix::throw_errno("fdatasync");
    }
  } catch (const std::exception& e) {
    // Cut the file back to its last good record so nothing half-written stays counted,
    // and seal it: the next append starts a fresh file rather than trusting this one.
    log::error("edge_telemetry_spool_append_failed", {{"file", seg.path.string()}, {"error", e.what()}});
    if (::ftruncate(active_fd_.get(), off_t(seg.valid)) == 0) {
      total_ -= seg.size - seg.valid;
      seg.size = seg.valid;
    } else {
      struct stat st {};
      if (::fstat(active_fd_.get(), &st) == 0 && uint64_t(st.st_size) > seg.size) {
        total_ += uint64_t(st.st_size) - seg.size;
        seg.size = uint64_t(st.st_size);
      }
    }
    seal_active_locked();
    set_bytes_locked();
    return AppendResult::failed;
  }
  seg.size += framed;
  seg.valid = seg.size;
  total_ += framed;
  set_bytes_locked();
  return AppendResult::ok;
}

void Spool::seal_active_locked() {
  if (!active_) return;
  segments_.at(*active_).sealed = true;
  active_.reset();
  active_fd_.reset();
}

void Spool::delete_segment_locked(Segments::iterator it) {
  if (active_ && *active_ == it->first) seal_active_locked();
  if (::unlink(it->second.path.c_str()) != 0 && errno != ENOENT) {
    log::error("edge_telemetry_spool_delete_failed",
               {{"file", it->second.path.string()}, {"error", std::strerror(errno)}});
  }
  if (read_seq_ == it->first) {
    read_fd_.reset();
    read_seq_ = 0;
    read_offset_ = 0;
    front_next_.reset();
  }
  total_ -= it->second.size;
  segments_.erase(it);
  set_bytes_locked();
}

std::optional<std::string> Spool::front() noexcept {
  std::string payload;
  if (!front_locked(&payload)) return std::nullopt;
  return payload;
}

bool Spool::skip_front() noexcept { return front_locked(nullptr); }

bool Spool::front_locked(std::string* out) noexcept {
  std::lock_guard lk(mu_);
  front_next_.reset();
  try {
    while (!segments_.empty()) {
      auto it = segments_.begin();
      Segment& seg = it->second;
      if (read_seq_ != it->first) {
        read_fd_.reset();
        read_seq_ = it->first;
        read_offset_ = 0;  // file header not checked yet
      }
      const bool active = active_ && *active_ == it->first;
      // Why the rest of a file is given up on (empty: a clean end).
      const char* bad = nullptr;
      if (!read_fd_) {
        read_fd_ = store::posix::UniqueFd(::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!read_fd_) bad = std::strerror(errno);
      }
      if (!bad && read_offset_ == 0) {
        char magic[kFileHeaderBytes];
        if (seg.valid < kFileHeaderBytes || !pread_exact(read_fd_.get(), magic, sizeof magic, 0)) {
          bad = seg.valid == 0 ? nullptr : "short file header";
        } else if (std::memcmp(magic, kMagic, sizeof magic) != 0) {
          bad = "unknown file header";
        } else {
          read_offset_ = kFileHeaderBytes;
        }
        if (read_offset_ == 0 && !bad) read_offset_ = seg.valid;  // empty file: nothing to read
      }
      if (!bad && read_offset_ >= seg.valid) {
        if (active) return false;  // caught up with the writer
      } else if (!bad && read_offset_ + kRecordHeaderBytes > seg.valid) {
        bad = "torn record header";
      } else if (!bad) {
        char hdr[kRecordHeaderBytes];
        if (!pread_exact(read_fd_.get(), hdr, sizeof hdr, read_offset_)) {
          bad = errno ? std::strerror(errno) : "short read";
        } else {
          const uint32_t len = get_u32(hdr);
          const uint32_t crc = get_u32(hdr + 4);
          const uint64_t end = read_offset_ + kRecordHeaderBytes + len;
          if (len > kMaxRecordBytes || end > seg.valid) {
            bad = "record runs past end of file";
          } else if (!out) {
            front_next_ = end;  // skip_front(): the caller knows what the record holds
            return true;
          } else {
            out->assign(len, '\0');
            if (!pread_exact(read_fd_.get(), out->data(), len, read_offset_ + kRecordHeaderBytes)) {
              bad = errno ? std::strerror(errno) : "short read";
            } else if (spool_record_crc(len, *out) != crc) {
              bad = "record checksum mismatch";
            } else {
              front_next_ = end;
              return true;
            }
          }
        }
      }
      if (bad) {
        log::warn("edge_telemetry_spool_skipped_tail",
                  {{"file", seg.path.string()},
                   {"offset", read_offset_},
                   {"skipped_bytes", seg.valid - std::min(seg.valid, read_offset_)},
                   {"reason", bad}});
      }
      // Every valid record of this file was acknowledged (front() returns only the
      // record at the read position, and it moves only on pop_front).
      delete_segment_locked(it);
    }
  } catch (const std::exception& e) {
    log::error("edge_telemetry_spool_read_failed", {{"dir", opts_.dir}, {"error", e.what()}});
  }
  return false;
}

void Spool::pop_front() noexcept {
  std::lock_guard lk(mu_);
  if (!front_next_ || segments_.empty() || segments_.begin()->first != read_seq_) return;
  read_offset_ = *front_next_;
  front_next_.reset();
  auto it = segments_.begin();
  // Fully acknowledged: delete now, even the active file (the next append opens a new
  // one), so a drained spool is empty on disk.
  if (read_offset_ >= it->second.valid) delete_segment_locked(it);
}

bool Spool::empty() const {
  std::lock_guard lk(mu_);
  return segments_.empty();
}

size_t Spool::files() const {
  std::lock_guard lk(mu_);
  return segments_.size();
}

}  // namespace rend::telemetry
