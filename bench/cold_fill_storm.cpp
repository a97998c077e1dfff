// The viewers of bench/cold_fill.sh: --viewers connections to the edge, opened (and
// accepted) first, then one GET each of one of --objects cold segments (round robin,
// a signed playback cookie each), all sent in one tight loop. Measures each viewer's
// time to the first response byte (when it reached the socket: the kernel's receive
// timestamp; also when this thread read it) and checks the status, Content-Length and every
// body byte against the origin's body_of(key).
//
// One thread, non-blocking sockets and epoll: the requests go out within a couple of
// milliseconds, and receiving the 500 MB costs little more than the kernel's copy.
// (The Python asyncio client this replaces took 9–28 ms to send 500 requests and
// used as much CPU as the edge it measured, on the same 2 cores.)
//
// Prints one JSON object: totals and, per viewer, the object index, when its request
// went out (ms after the first one), its TTFB and total time (ms), and an error if
// any; t0_unix is the first send on the wall clock, to compare with the origin's and
// the edge's clocks (bench/cold_fill.py report does). Exits 1 if any viewer failed.
//
//   cold_fill_storm --edge HOST:PORT --asset ID --token T [--objects 50] [--viewers 500] [--size 1048576]
//                   [--timeout-s 60]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cold_fill_common.h"

namespace {

using cold_fill::json_str;
using cold_fill::mono_ns;
using cold_fill::unix_s;

constexpr size_t kRecvBuf = 256 * 1024;

// An object's expected bytes without holding them: its unit (key + "|") repeated far
// enough that any received chunk at body offset p compares with one memcmp at
// p % unit.size() (the origin's body_of).
struct Expect {
  std::string unit, pattern;
  bool matches(const char* data, size_t n, uint64_t body_off) const {
    return std::memcmp(data, pattern.data() + body_off % unit.size(), n) == 0;
  }
};

struct Viewer {
  int fd = -1;
  size_t object = 0;
  // first_ns: when the response's first byte reached this socket (the kernel's receive
  // timestamp, SO_TIMESTAMPNS); first_read_ns: when this one thread got to read it,
  // later by however long it was busy receiving and checking other viewers' bytes.
  int64_t sent_ns = 0, first_ns = 0, first_read_ns = 0, done_ns = 0;
  std::string head;  // response head bytes until \r\n\r\n
  bool head_done = false, finished = false;
  int status = 0;
  int64_t length = -1;
  uint64_t got = 0;
  std::string error;
};

}  // namespace

int main(int argc, char** argv) {
  std::string edge, asset, token;
  size_t objects = 50, viewers = 500, size = 1 << 20;
  double timeout_s = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--edge") edge = v;
    else if (f == "--asset") asset = v;
    else if (f == "--token") token = v;
    else if (f == "--objects") objects = size_t(std::atoll(v));
    else if (f == "--viewers") viewers = size_t(std::atoll(v));
    else if (f == "--size") size = size_t(std::atoll(v));
    else if (f == "--timeout-s") timeout_s = std::atof(v);
    else edge.clear();
  }
  const size_t colon = edge.rfind(':');
  if (argc % 2 != 1 || colon == std::string::npos || asset.empty() || token.empty() || objects == 0 || viewers == 0) {
    std::fprintf(stderr,
                 "usage: cold_fill_storm --edge HOST:PORT --asset ID --token T [--objects 50] [--viewers 500] "
                 "[--size 1048576] [--timeout-s 60]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const std::string host = edge.substr(0, colon);
  const int port = std::atoi(edge.c_str() + colon + 1);

  std::vector<std::string> requests(objects);
  std::vector<Expect> expect(objects);
  for (size_t o = 0; o < objects; ++o) {
    char seg[64];
    std::snprintf(seg, sizeof seg, "720p/seg_%05zu.ts", o);
    requests[o] = "GET /v/" + asset + "/" + seg + " HTTP/1.1\r\nHost: " + edge + "\r\nCookie: rend_playback=" + token +
                  "\r\nConnection: close\r\n\r\n";
    expect[o].unit = cold_fill::body_unit("assets/" + asset + "/" + seg);
    while (expect[o].pattern.size() < kRecvBuf + expect[o].unit.size()) expect[o].pattern += expect[o].unit;
  }

  // Connect everything first: the storm measures requests, not handshakes.
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Viewer> vs(viewers);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "cold_fill_storm: --edge must be an IPv4 address and port\n");
    return 2;
  }
  size_t pending = 0;
  for (size_t i = 0; i < viewers; ++i) {
    Viewer& v = vs[i];
    v.object = i % objects;
    v.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(v.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(v.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (v.fd < 0 || (connect(v.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)) {
      std::printf("{\"viewers\":%zu,\"failed\":%zu,\"errors\":[%s]}\n", viewers, viewers,
                  json_str(std::string("connect: ") + std::strerror(errno)).c_str());
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, v.fd, &ev);
    pending++;
  }
  std::vector<epoll_event> evs(1024);
  const int64_t connect_deadline = mono_ns() + 10'000'000'000;
  while (pending > 0 && mono_ns() < connect_deadline) {
    int n = epoll_wait(ep, evs.data(), int(evs.size()), 100);
    for (int k = 0; k < n; ++k) {
      Viewer& v = vs[evs[k].data.u64];
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(v.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        std::printf("{\"viewers\":%zu,\"failed\":%zu,\"errors\":[%s]}\n", viewers, viewers,
                    json_str(std::string("connect: ") + std::strerror(err)).c_str());
        return 1;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = evs[k].data.u64;
      epoll_ctl(ep, EPOLL_CTL_MOD, v.fd, &ev);
      pending--;
    }
  }
  if (pending > 0) {
    std::printf("{\"viewers\":%zu,\"failed\":%zu,\"errors\":[\"connect: timed out\"]}\n", viewers, pending);
    return 1;
  }
  // Every connection accepted by the edge before the storm (its accept loop is not
  // what this measures).
  usleep(300 * 1000);

  // The storm: one send each, nothing else in between.
  const double t0_unix = unix_s();
  const int64_t t0 = mono_ns();
  for (auto& v : vs) {
    v.sent_ns = mono_ns();
    const std::string& r = requests[v.object];
    if (send(v.fd, r.data(), r.size(), MSG_NOSIGNAL) != ssize_t(r.size())) v.error = "request not sent in one write";
  }
  const int64_t sent_all = mono_ns();

  std::vector<char> buf(kRecvBuf);
  size_t active = viewers;
  for (auto& v : vs)
    if (!v.error.empty()) {
      v.finished = true;
      active--;
    }
  auto finish = [&](Viewer& v, std::string error) {
    if (v.finished) return;
    v.finished = true;
    v.done_ns = mono_ns();
    v.error = std::move(error);
    epoll_ctl(ep, EPOLL_CTL_DEL, v.fd, nullptr);
    ::close(v.fd);
    active--;
  };
  const int64_t deadline = t0 + int64_t(timeout_s * 1e9);
  while (active > 0) {
    const int64_t now = mono_ns();
    if (now >= deadline) break;
    int n = epoll_wait(ep, evs.data(), int(evs.size()), int(std::min<int64_t>(1000, (deadline - now) / 1000000 + 1)));
    for (int k = 0; k < n; ++k) {
      Viewer& v = vs[evs[k].data.u64];
      if (v.finished) continue;
      if (v.first_ns == 0) {
        // The first byte alone, so that the receive timestamp is its segment's, not that
        // of body bytes that arrived later and are read in the same call.
        char one;
        double received = -1;
        ssize_t got = cold_fill::recv_stamped(v.fd, &one, 1, received);
        if (got == 1) {
          v.first_read_ns = mono_ns();
          v.first_ns = v.first_read_ns;
          if (received >= 0) {
            const double late_s = unix_s() - received;
            v.first_ns = std::min(v.first_read_ns, v.first_read_ns - int64_t(late_s * 1e9));
          }
          v.head.push_back(one);
        } else if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          finish(v, "connection closed before any response byte");
          continue;
        } else {
          continue;
        }
      }
      for (;;) {
        ssize_t got = recv(v.fd, buf.data(), buf.size(), 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got <= 0) {
          finish(v, "connection closed after " + std::to_string(v.got) + " body bytes" +
                        (got < 0 ? std::string(" (") + std::strerror(errno) + ")" : ""));
          break;
        }
        const char* data = buf.data();
        size_t len = size_t(got);
        if (!v.head_done) {
          v.head.append(data, len);
          size_t end = v.head.find("\r\n\r\n");
          if (end == std::string::npos) {
            if (v.head.size() > 65536) finish(v, "response head too long");
            if (v.finished) break;
            continue;
          }
          v.head_done = true;
          const size_t body_in_head = v.head.size() - (end + 4);
          std::string lower = v.head.substr(0, end + 2);
          for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
          v.status = std::atoi(lower.c_str() + std::min<size_t>(9, lower.size()));
          if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos)
            v.length = std::atoll(lower.c_str() + p + 17);
          // The body bytes that came with the head are in v.head's tail, not in buf's
          // head: check them from there.
          data = v.head.data() + end + 4;
          len = body_in_head;
          if (v.status != 200) {
            finish(v, "status " + std::to_string(v.status));
            break;
          }
          if (v.length != int64_t(size)) {
            finish(v, "Content-Length " + std::to_string(v.length) + ", expected " + std::to_string(size));
            break;
          }
        }
        if (v.got + len > size) {
          finish(v, "more body bytes than Content-Length");
          break;
        }
        if (len > 0 && !expect[v.object].matches(data, len, v.got)) {
          finish(v, "body differs from the origin's");
          break;
        }
        v.got += len;
        if (v.got == size) {
          finish(v, "");
          break;
        }
        if (size_t(got) < buf.size()) break;  // drained; epoll says when more comes
      }
    }
  }
  for (auto& v : vs)
    if (!v.finished) finish(v, "no complete answer in " + std::to_string(int(timeout_s)) + " s");
  const int64_t end = mono_ns();

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](timeval t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  auto ms = [](int64_t ns) { return double(ns) / 1e6; };
  size_t failed = 0;
  std::set<std::string> errors;
  std::string recs;
  for (auto& v : vs) {
    if (!v.error.empty()) {
      failed++;
      if (errors.size() < 5) errors.insert(v.error);
    }
    char r[256];
    std::snprintf(r, sizeof r, "%s{\"o\":%zu,\"sent_ms\":%.3f,\"ttfb_ms\":%.3f,\"ttfb_read_ms\":%.3f,\"total_ms\":%.3f",
                  recs.empty() ? "" : ",", v.object, ms(v.sent_ns - t0), v.first_ns ? ms(v.first_ns - v.sent_ns) : -1.0,
                  v.first_read_ns ? ms(v.first_read_ns - v.sent_ns) : -1.0,
                  v.done_ns ? ms(v.done_ns - v.sent_ns) : -1.0);
    recs += r;
    if (!v.error.empty()) recs += ",\"error\":" + json_str(v.error);
    recs += "}";
  }
  std::string errs;
  for (const auto& e : errors) errs += (errs.empty() ? "" : ",") + json_str(e);
  std::printf(
      "{\"viewers\":%zu,\"failed\":%zu,\"errors\":[%s],\"t0_unix\":%.6f,\"send_spread_ms\":%.3f,\"wall_ms\":%.1f,"
      "\"client_cpu_s\":%.3f,\"client_sys_s\":%.3f,\"records\":[%s]}\n",
      viewers, failed, errs.c_str(), t0_unix, ms(sent_all - t0), ms(end - t0), secs(ru.ru_utime) + secs(ru.ru_stime),
      secs(ru.ru_stime), recs.c_str());
  return failed ? 1 : 0;
}
