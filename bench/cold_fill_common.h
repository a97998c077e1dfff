#pragma once
// What bench/cold_fill_origin.cpp and bench/cold_fill_storm.cpp share: their clocks
// (the storm's and the origin's timestamps are compared in one report), a receive that
// also returns when the kernel got the bytes (SO_TIMESTAMPNS), the JSON
// string writer of their one-line reports, and how an object's body follows from its
// key (the origin serves it, the storm checks every byte against it).
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cold_fill {

inline int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline double unix_s() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// recv(2) on a socket with SO_TIMESTAMPNS set, that also gives the kernel's receive time
// of the bytes read (unix seconds; left as is when the kernel attached none): when they
// reached the socket, whatever this process's own lag in reading them.
inline ssize_t recv_stamped(int fd, void* buf, size_t len, double& received_unix_s) {
  iovec iov{buf, len};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(timespec))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  const ssize_t n = recvmsg(fd, &mh, 0);
  if (n <= 0) return n;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
      received_unix_s = double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
    }
  }
  return n;
}

// Keys are paths: no control characters expected, any are dropped.
inline std::string json_str(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}

// The repeating unit of `key`'s body: the body is (key + "|") repeated, cut at its size.
inline std::string body_unit(const std::string& key) { return key + "|"; }

}  // namespace cold_fill
