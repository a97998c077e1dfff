#include "store/fs/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "core/crypto.h"
#include "core/log.h"
#include "store/object_io.h"
#include "store/posix_file.h"

namespace rend::store::fs {

namespace stdfs = std::filesystem;

namespace {

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

FsObjectStore::FsObjectStore(stdfs::path root) : root_(std::move(root)), tmp_(root_ / kTempDir) {
  stdfs::create_directories(tmp_);
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
