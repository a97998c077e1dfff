#include "store/posix_file.h"

#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rend::store::posix {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void UniqueFd::reset() {
  // close() is not retried on EINTR: on Linux the descriptor is released either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void throw_errno(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void write_all(int fd, const char* data, size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(what);
    }
    data += w;
    n -= size_t(w);
  }
}

size_t read_some(int fd, char* buf, size_t n, const std::string& what) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return size_t(r);
    if (errno != EINTR) throw_errno(what);
  }
}

}  // namespace rend::store::posix
