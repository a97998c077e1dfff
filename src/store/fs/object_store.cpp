#include "store/fs/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "core/crypto.h"
#include "core/log.h"
#include "store/object_io.h"
#include "store/posix_file.h"

namespace rend::store::fs {

namespace stdfs = std::filesystem;

namespace {

// upload_part starts writeback after each this many bytes.
constexpr uint64_t kPartWritebackStep = 2u << 20;
constexpr auto kStaleTempAge = std::chrono::hours(1);
// A concurrent delete_prefix may remove a parent directory between our mkdir and
// rename; a few retries are plenty because a delete only removes empty directories.
constexpr int kRenameAttempts = 5;

// Durability of the rename itself: without this a power loss can lose the new entry.
void fsync_dir(const stdfs::path& dir) {
  posix::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

class FsWriter final : public ObjectWriter {
 public:
  FsWriter(stdfs::path tmp_path, stdfs::path final_path)
      : tmp_path_(std::move(tmp_path)), final_path_(std::move(final_path)) {
    fd_ = posix::UniqueFd(::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd_) posix::throw_errno("create " + tmp_path_.string());
  }

  ~FsWriter() override {
    if (committed_) return;
    fd_.reset();
    ::unlink(tmp_path_.c_str());
  }

  void write(const char* data, size_t n) override {
    if (committed_) throw std::logic_error("write after commit");
    posix::write_all(fd_.get(), data, n, write_what_);
    written_ += n;
    // Start writeback of every full 8 MiB as it is written, so the disk works while
    // the rest of a large upload arrives and commit()'s fsync waits for the tail only,
    // not for the whole object at once. A hint: a failure here is caught by fsync.
    if (written_ - kicked_ >= kWritebackStep) {
      ::sync_file_range(fd_.get(), off_t(kicked_), off_t(written_ - kicked_), SYNC_FILE_RANGE_WRITE);
      kicked_ = written_;
    }
  }

  void commit() override {
    if (committed_) throw std::logic_error("commit called twice");
    if (::fsync(fd_.get()) != 0) posix::throw_errno("fsync " + tmp_path_.string());
    fd_.reset();
    for (int attempt = 1;; ++attempt) {
      stdfs::create_directories(final_path_.parent_path());
      if (::rename(tmp_path_.c_str(), final_path_.c_str()) == 0) break;
      if (errno != ENOENT || attempt == kRenameAttempts) posix::throw_errno("rename to " + final_path_.string());
    }
    committed_ = true;
    fsync_dir(final_path_.parent_path());
  }

  uint64_t bytes_written() const override { return written_; }

 private:
  stdfs::path tmp_path_, final_path_;
  std::string write_what_ = "write " + tmp_path_.string();
  posix::UniqueFd fd_;
  uint64_t written_ = 0;
  uint64_t kicked_ = 0;  // writeback has been started for [0, kicked_)
  static constexpr uint64_t kWritebackStep = 8 << 20;
  bool committed_ = false;
};

class FsReader final : public ObjectReader {
 public:
  FsReader(posix::UniqueFd fd, uint64_t size, const std::string& key)
      : fd_(std::move(fd)), size_(size), read_what_("read " + key) {}

  size_t read(char* buf, size_t n) override { return posix::read_some(fd_.get(), buf, n, read_what_); }
  uint64_t size() const override { return size_; }

 private:
  posix::UniqueFd fd_;
  uint64_t size_;
  std::string read_what_;
};

}  // namespace

FsObjectStore::FsObjectStore(stdfs::path root)
    : root_(std::move(root)), tmp_(root_ / kTempDir), multipart_(root_ / kMultipartDir) {
  stdfs::create_directories(tmp_);
  stdfs::create_directories(multipart_);
  remove_stale_temp_files();
}

void FsObjectStore::remove_stale_temp_files() const {
  const auto cutoff = stdfs::file_time_type::clock::now() - kStaleTempAge;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(tmp_, ec)) {
    std::error_code entry_ec;
    if (entry.last_write_time(entry_ec) < cutoff && !entry_ec) stdfs::remove(entry.path(), entry_ec);
  }
  if (ec) core::log::warn("fs_store_tmp_cleanup_failed", {{"error", ec.message()}});
}

stdfs::path FsObjectStore::path_for(std::string_view key) const {
  if (!is_valid_object_key(key)) throw std::invalid_argument("invalid object key: " + std::string(key));
  if (key == kTempDir || key.starts_with(std::string(kTempDir) + "/"))
    throw std::invalid_argument("object keys under .tmp/ are reserved by the fs store");
  if (key == kMultipartDir || key.starts_with(std::string(kMultipartDir) + "/"))
    throw std::invalid_argument("object keys under .multipart/ are reserved by the fs store");
  return root_ / key;
}

stdfs::path FsObjectStore::dir_for_prefix(const std::string& prefix) const {
  if (prefix.empty() || prefix.back() != '/') throw std::invalid_argument("object prefix must end with '/': " + prefix);
  return path_for(std::string_view(prefix).substr(0, prefix.size() - 1));
}

std::unique_ptr<ObjectWriter> FsObjectStore::begin_put(const std::string& key) {
  auto final_path = path_for(key);
  // Random, so concurrent puts of one key (or of two stores on one root) never share a temp file.
  return std::make_unique<FsWriter>(tmp_ / (core::random_token(16) + ".part"), std::move(final_path));
}

void FsObjectStore::put_bytes(const std::string& key, std::string_view data) {
  auto w = begin_put(key);
  w->write(data.data(), data.size());
  w->commit();
}

void FsObjectStore::put_file(const std::string& key, const std::string& local_path) {
  auto w = begin_put(key);
  copy_file_to_writer(local_path, *w);
  w->commit();
}

std::unique_ptr<ObjectReader> FsObjectStore::get(const std::string& key) {
  auto path = path_for(key);
  posix::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return nullptr;
    posix::throw_errno("open " + key);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) posix::throw_errno("stat " + key);
  // A "key" that names a directory is only a prefix of other keys.
  if (!S_ISREG(st.st_mode)) return nullptr;
  return std::make_unique<FsReader>(std::move(fd), uint64_t(st.st_size), key);
}

std::optional<ObjectInfo> FsObjectStore::head(const std::string& key) {
  auto path = path_for(key);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    posix::throw_errno("stat " + key);
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return ObjectInfo{uint64_t(st.st_size)};
}

bool FsObjectStore::get_to_file(const std::string& key, const std::string& local_path) {
  auto r = get(key);
  if (!r) return false;
  copy_reader_to_file(*r, local_path);
  return true;
}

std::vector<std::string> FsObjectStore::list(const std::string& prefix) {
  auto dir = dir_for_prefix(prefix);
  std::vector<std::string> keys;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) keys.push_back(it->path().lexically_relative(root_).generic_string());
  }
  // A missing prefix directory just means no keys; any other error must not pass
  // for a short listing.
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw std::runtime_error("list " + prefix + ": " + ec.message());
  std::sort(keys.begin(), keys.end());
  return keys;
}

size_t FsObjectStore::delete_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.back() != '/') {
    auto path = path_for(prefix);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return 0;
      posix::throw_errno("delete " + prefix);
    }
    prune_empty_dirs(path.parent_path());
    return 1;
  }

  auto dir = dir_for_prefix(prefix);
  size_t removed = 0;
  std::vector<stdfs::path> dirs;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      dirs.push_back(it->path());
    } else if (::unlink(it->path().c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      posix::throw_errno("delete " + it->path().lexically_relative(root_).generic_string());
    }
  }
  // Deepest first; rmdir only succeeds on empty directories, so a concurrent put
  // into one of them keeps it.
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.native().size() > b.native().size(); });
  for (const auto& d : dirs) ::rmdir(d.c_str());
  prune_empty_dirs(dir);
  return removed;
}

void FsObjectStore::prune_empty_dirs(stdfs::path dir) const {
  while (dir != root_ && dir.native().size() > root_.native().size() && ::rmdir(dir.c_str()) == 0)
    dir = dir.parent_path();
}

stdfs::path FsObjectStore::multipart_path(const std::string& handle) const {
  // Handles come back from the caller's storage: only what begin_multipart makes.
  bool ok = handle.size() >= 16 && handle.size() <= 64;
  for (char c : handle) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok) throw std::invalid_argument("invalid multipart handle");
  return multipart_ / (handle + ".part");
}

std::string FsObjectStore::begin_multipart(const std::string& key) {
  path_for(key);
  std::string handle = core::random_token(16);
  auto path = multipart_path(handle);
  posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) posix::throw_errno("create multipart file");
  if (::fsync(fd.get()) != 0) posix::throw_errno("fsync multipart file");
  fsync_dir(multipart_);
  return handle;
}

StoredPart FsObjectStore::upload_part(const std::string& key, const std::string& handle, uint32_t number,
                                      uint64_t offset, uint64_t size, const PartSource& body) {
  path_for(key);
  if (number == 0) throw std::invalid_argument("part numbers start at 1");
  auto path = multipart_path(handle);
  posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw std::runtime_error("multipart upload of " + key + " does not exist");
    posix::throw_errno("open multipart file");
  }
  // A part re-sent after a crash replaces whatever the interrupted attempt wrote.
  if (::ftruncate(fd.get(), off_t(offset)) != 0) posix::throw_errno("truncate multipart file");
  const std::string what = "write multipart file";
  std::vector<char> buf(std::min<uint64_t>(size, 256 * 1024) + 1);
  uint64_t written = 0, kicked = 0;
  while (written < size) {
    size_t n = body(buf.data(), size_t(std::min<uint64_t>(buf.size(), size - written)));
    if (n == 0) throw std::runtime_error("part " + std::to_string(number) + " of " + key + " ended early");
    if (::pwrite(fd.get(), buf.data(), n, off_t(offset + written)) != ssize_t(n)) posix::throw_errno(what);
    written += n;
    // Start writing back every few MiB, so the fdatasync below (the part's durability,
    // which a resumable upload acknowledges) waits for the last bytes only, not the
    // whole part. Not after every write: each call submits its own I/O (a virtio
    // notification per 256 KiB showed in the profile of a tus upload).
    if (written - kicked >= kPartWritebackStep) {
      ::sync_file_range(fd.get(), off_t(offset + kicked), off_t(written - kicked), SYNC_FILE_RANGE_WRITE);
      kicked = written;
    }
  }
  if (::fdatasync(fd.get()) != 0) posix::throw_errno("fsync multipart file");
  return {size, "fs-" + std::to_string(offset) + "-" + std::to_string(size)};
}

void FsObjectStore::complete_multipart(const std::string& key, const std::string& handle,
                                       const std::vector<StoredPart>& parts) {
  auto final_path = path_for(key);
  auto path = multipart_path(handle);
  uint64_t total = 0;
  for (const auto& p : parts) total += p.size;
  posix::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    // Completed before (a retry after a crash between the rename and the caller's
    // bookkeeping): fine when the object is the assembled size.
    if (errno == ENOENT) {
      if (auto info = head(key); info && info->size == total) return;
      throw std::runtime_error("multipart upload of " + key + " does not exist");
    }
    posix::throw_errno("open multipart file");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) posix::throw_errno("stat multipart file");
  if (uint64_t(st.st_size) < total) throw std::runtime_error("multipart upload of " + key + " is missing parts");
  // Bytes past the last part are an interrupted attempt's; they are not the object's.
  if (uint64_t(st.st_size) > total && ::ftruncate(fd.get(), off_t(total)) != 0)
    posix::throw_errno("truncate multipart file");
  if (::fsync(fd.get()) != 0) posix::throw_errno("fsync multipart file");
  fd.reset();
  for (int attempt = 1;; ++attempt) {
    stdfs::create_directories(final_path.parent_path());
    if (::rename(path.c_str(), final_path.c_str()) == 0) break;
    if (errno != ENOENT || attempt == kRenameAttempts) posix::throw_errno("rename to " + final_path.string());
  }
  fsync_dir(final_path.parent_path());
  fsync_dir(multipart_);
}

void FsObjectStore::abort_multipart(const std::string& key, const std::string& handle) {
  path_for(key);
  auto path = multipart_path(handle);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) posix::throw_errno("delete multipart file");
}

HealthStatus FsObjectStore::health() {
  // Writability is what uploads need; probing with a real file also catches a
  // read-only remount or a full disk's inode exhaustion, which access(2) does not.
  auto probe = tmp_ / (".health-" + core::random_token(8));
  posix::UniqueFd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return {false, "object store directory " + root_.string() + " is not writable: " + std::strerror(errno)};
  fd.reset();
  ::unlink(probe.c_str());
  return {true, "ok"};
}

}  // namespace rend::store::fs
