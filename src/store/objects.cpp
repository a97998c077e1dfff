#include "store/objects.h"

#include <fcntl.h>

#include <stdexcept>
#include <vector>

#include "store/object_io.h"
#include "store/posix_file.h"

namespace rend::store {

namespace {
// Matches S3's key limit, so a key valid here is valid on every backend.
constexpr size_t kMaxKeyLength = 1024;
constexpr size_t kCopyChunk = 1 << 20;

bool is_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}
}  // namespace

bool is_valid_object_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  size_t start = 0;
  for (;;) {
    size_t end = key.find('/', start);
    std::string_view segment = key.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment)
      if (!is_key_char(c)) return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

namespace {
[[noreturn]] void no_multipart() { throw std::logic_error("this object store has no multipart writes"); }
}  // namespace

std::string ObjectStore::begin_multipart(const std::string&) { no_multipart(); }
StoredPart ObjectStore::upload_part(const std::string&, const std::string&, uint32_t, uint64_t, uint64_t,
                                    const PartSource&) {
  no_multipart();
}
void ObjectStore::complete_multipart(const std::string&, const std::string&, const std::vector<StoredPart>&) {
  no_multipart();
}
void ObjectStore::abort_multipart(const std::string&, const std::string&) { no_multipart(); }

namespace {
// The default start_get: nothing happens until finish(), which is get().
class DeferredGet final : public PendingGet {
 public:
  DeferredGet(ObjectStore& store, std::string key) : store_(store), key_(std::move(key)) {}
  std::unique_ptr<ObjectReader> finish() override { return store_.get(key_); }

 private:
  ObjectStore& store_;
  std::string key_;
};
}  // namespace

std::unique_ptr<PendingGet> ObjectStore::start_get(const std::string& key) {
  return std::make_unique<DeferredGet>(*this, key);
}

void copy_file_to_writer(const std::string& local_path, ObjectWriter& writer) {
  posix::UniqueFd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) posix::throw_errno("open " + local_path);
  const std::string what = "read " + local_path;
  std::vector<char> buf(kCopyChunk);
  while (size_t n = posix::read_some(fd.get(), buf.data(), buf.size(), what)) writer.write(buf.data(), n);
}

void copy_reader_to_file(ObjectReader& reader, const std::string& local_path) {
  posix::UniqueFd fd(::open(local_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) posix::throw_errno("open " + local_path);
  const std::string what = "write " + local_path;
  std::vector<char> buf(kCopyChunk);
  while (size_t n = reader.read(buf.data(), buf.size())) posix::write_all(fd.get(), buf.data(), n, what);
}

}  // namespace rend::store
