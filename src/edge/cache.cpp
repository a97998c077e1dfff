#include "edge/cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "core/crypto.h"
#include "core/log.h"

namespace fs = std::filesystem;

namespace rend::edge {

DiskCache::DiskCache(std::string dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_ + "/objects");
  std::error_code ec;
  fs::remove_all(dir_ + "/tmp", ec);  // partial fills from a previous run
  fs::create_directories(dir_ + "/tmp");
}

std::string DiskCache::asset_of(const std::string& key) {
  // keys are assets/{asset_id}/...
  auto a = key.find('/');
  auto b = key.find('/', a + 1);
  return key.substr(a + 1, b - a - 1);
}

std::optional<CacheEntry> DiskCache::lookup(const std::string& key, std::optional<int64_t> max_age_secs) const {
  std::string path = dir_ + "/objects/" + key;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (max_age_secs) {
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    if (now - mtime_ns > *max_age_secs * 1000000000) return std::nullopt;
  }
  CacheEntry e;
  e.file = path;
  e.size = uint64_t(st.st_size);
  e.mtime_ns = mtime_ns;
  char tag[64];
  std::snprintf(tag, sizeof tag, "\"%llx-%llx\"", (unsigned long long)st.st_size, (unsigned long long)mtime_ns);
  e.etag = tag;
  return e;
}

uint64_t DiskCache::generation(const std::string& asset_id) {
  std::lock_guard lk(mu_);
  return generations_[asset_id];
}

FillStatus DiskCache::fill(const std::string& key, store::ObjectStore& origin, uint64_t max_bytes) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lk(mu_);
    auto& slot = flights_[key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (!leader) {
    std::unique_lock lk(mu_);
    flight->cv.wait(lk, [&] { return flight->done; });
    return flight->status;
  }
  FillStatus status = FillStatus::origin_error;
  try {
    status = do_fill(key, origin, max_bytes);
  } catch (const std::exception& e) {
    core::log::warn("edge_fill_failed", {{"key", key}, {"error", e.what()}});
  }
  {
    std::lock_guard lk(mu_);
    flight->done = true;
    flight->status = status;
    flights_.erase(key);
  }
  flight->cv.notify_all();
  return status;
}

FillStatus DiskCache::do_fill(const std::string& key, store::ObjectStore& origin, uint64_t max_bytes) {
  auto asset = asset_of(key);
  uint64_t gen = generation(asset);
  auto reader = origin.get(key);
  if (!reader) return FillStatus::not_found;
  if (reader->size() > max_bytes) return FillStatus::too_large;
  std::string tmp = dir_ + "/tmp/" + core::random_token(12);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create cache temp file");
  struct Cleanup {
    int fd;
    std::string tmp;
    bool keep = false;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!keep) ::unlink(tmp.c_str());
    }
  } guard{fd, tmp};
  std::vector<char> buf(256 * 1024);
  uint64_t total = 0;
  while (size_t n = reader->read(buf.data(), buf.size())) {
    total += n;
    if (total > max_bytes) return FillStatus::too_large;
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(fd, buf.data() + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("cache write failed");
      }
      off += size_t(w);
    }
  }
  // A short read from the origin must never become a "complete" cached file.
  if (total != reader->size()) return FillStatus::origin_error;
  ::close(guard.fd);
  guard.fd = -1;
  std::string dest = dir_ + "/objects/" + key;
  fs::create_directories(fs::path(dest).parent_path());
  {
    // Purge holds mu_ while deleting, so checking the generation and renaming
    // under mu_ means a purged asset never gets a file back from an older fill.
    std::lock_guard lk(mu_);
    if (generations_[asset] != gen) return FillStatus::purged;
    if (::rename(tmp.c_str(), dest.c_str()) != 0) throw std::runtime_error("cache rename failed");
  }
  guard.keep = true;
  return FillStatus::filled;
}

size_t DiskCache::purge_asset(const std::string& asset_id) {
  std::lock_guard lk(mu_);
  generations_[asset_id]++;
  std::error_code ec;
  auto n = fs::remove_all(dir_ + "/objects/assets/" + asset_id, ec);
  return ec ? 0 : size_t(n);
}

DiskCache::Usage DiskCache::usage() const {
  Usage u;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_ + "/objects", ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      u.objects++;
      u.bytes += it->file_size(ec);
    }
  }
  return u;
}

bool DiskCache::writable() const { return ::access((dir_ + "/tmp").c_str(), W_OK) == 0; }

}  // namespace rend::edge
