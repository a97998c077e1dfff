#pragma once
// Minimal POSIX file helpers shared by the object store implementations and their
// local-file conveniences. Errors throw std::runtime_error naming the operation.
#include <cstddef>
#include <string>

namespace rend::store::posix {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(const std::string& what);
// Retries on EINTR and short writes.
void write_all(int fd, const char* data, size_t n, const std::string& what);
// One read(2), retried on EINTR; 0 at end of file.
size_t read_some(int fd, char* buf, size_t n, const std::string& what);

}  // namespace rend::store::posix
