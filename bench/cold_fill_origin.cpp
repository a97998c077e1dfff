// The pacing S3-compatible origin of bench/cold_fill.sh (anchors.md's cold-object
// origin): path-style GET/HEAD of any key under any bucket; a GET's response head
// leaves --ttfb-ms after the request's last header byte reached the socket (the
// kernel's receive timestamp, not when this thread got to read it), then its body goes
// out in --slices equal slices spread over --seconds (the first with the head, the
// last at the end). Keys under a 360p/ rung are --hit-size bytes (the warm HIT load's
// object), others --size. Every key's body is derived from its name (append_body; the
// storm client checks every byte against it). HTTP/1.1 keep-alive, as S3.
//
// One thread, epoll, and a timerfd armed at the next deadline with nanosecond
// resolution: 50 heads due at once leave within a few hundred microseconds of their
// deadline (the Python asyncio origin this replaces took 10–30 ms to read 50
// simultaneous requests and used a tenth of a core doing it).
//
// GET /__stats answers what the bench reports where the time goes from, per key of
// the first GET: {"gets": {key: count}, "head_ms": {key: request→head ms},
// "arrived_at": {key: unix s this thread read it}, "received_at": {key: unix s the
// kernel queued it, i.e. when the edge sent it}, "head_at": {key: unix s}, "accepted_at": {key: unix s
// its connection was accepted}, "reused": {key: whether that connection had served a
// request before}, "connections": accepted connections}.
//
//   cold_fill_origin PORT [--ttfb-ms 100] [--seconds 2] [--size 1048576] [--hit-size 65536] [--slices 20]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cold_fill_common.h"

namespace {

using cold_fill::json_str;
using cold_fill::mono_ns;
using cold_fill::unix_s;

struct Options {
  int port = 0;
  double ttfb_ms = 100, seconds = 2;
  size_t size = 1 << 20, hit_size = 64 << 10, slices = 20;
};

// Appends bytes [off, off + len) of `key`'s body, (key + "|") repeated and cut at
// `size`, to `out`. Built slice by slice when due rather than whole per request: 50
// requests arriving together each building a 1 MiB string held the one thread ~0.2 ms
// apiece, so the 25th request was read ~5–20 ms after it arrived, on the TTFB the
// bench charges to the edge. Shared with the storm client (cold_fill::body_unit).
void append_body(std::string& out, const std::string& unit, size_t size, size_t off, size_t len) {
  const size_t end = std::min(size, off + len);
  while (off < end) {
    const size_t at = off % unit.size();
    const size_t n = std::min(unit.size() - at, end - off);
    out.append(unit, at, n);
    off += n;
  }
}

struct Conn {
  int fd = -1;
  double accepted_at = 0;
  // When the kernel queued the newest bytes read (SO_TIMESTAMPNS, unix s): on loopback,
  // when the peer sent them, whatever this thread's own wake-up cost.
  double rx_at = 0;
  int served = 0;      // requests answered on this connection
  std::string in;      // request bytes not yet handled
  std::string out;     // bytes written to the socket's buffer as it drains
  size_t out_off = 0;  // how many of `out` went
  // The GET in progress: its body, the next slice, and when that slice is due.
  bool busy = false, close_after = false;
  std::string unit;  // the body's repeating unit (append_body)
  size_t size = 0;
  size_t next_slice = 0, step = 0;
  int64_t arrived_ns = 0, head_due_ns = 0, body_start_ns = 0;
  std::string key;
  uint64_t timer_seq = 0;  // the live timer entry of this connection (older ones are stale)
};

struct Timer {
  int64_t due_ns;
  int fd;
  uint64_t seq;
  bool operator>(const Timer& o) const { return due_ns > o.due_ns; }
};

class Origin {
 public:
  explicit Origin(Options o) : o_(o) {}
  int run();

 private:
  void on_accept();
  void on_readable(Conn& c);
  void handle_requests(Conn& c);
  void on_timer();
  void arm(Conn& c, int64_t due_ns);
  void rearm_timerfd();
  void send_due(Conn& c);
  bool flush(Conn& c);  // false: the connection is gone
  void close_conn(Conn& c);
  std::string stats_json() const;

  Options o_;
  int ep_ = -1, lfd_ = -1, tfd_ = -1;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t seq_ = 0;
  int64_t armed_ns_ = -1;
  uint64_t accepted_ = 0;
  // Per key (first GET): count, request→head ms, arrival, head, accept times, reuse.
  std::map<std::string, int> gets_;
  std::map<std::string, double> head_ms_, arrived_at_, received_at_, head_at_, accepted_at_;
  std::map<std::string, bool> reused_;
};

int Origin::run() {
  signal(SIGPIPE, SIG_IGN);
  lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(o_.port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(lfd_, 4096) != 0) {
    std::fprintf(stderr, "cold_fill_origin: cannot listen on 127.0.0.1:%d: %s\n", o_.port, std::strerror(errno));
    return 1;
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  tfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
  ev.data.fd = tfd_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, tfd_, &ev);
  std::vector<epoll_event> evs(512);
  for (;;) {
    int n = epoll_wait(ep_, evs.data(), int(evs.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;
    // Deadlines first: a head due now must not wait behind reading other requests.
    for (int i = 0; i < n; ++i)
      if (evs[i].data.fd == tfd_) on_timer();
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == tfd_) continue;
      if (fd == lfd_) {
        on_accept();
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      if (evs[i].events & EPOLLOUT) {
        if (!flush(c)) continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
}

void Origin::on_accept() {
  for (;;) {
    int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->accepted_at = unix_s();
    accepted_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    conns_[fd] = std::move(c);
  }
}

void Origin::close_conn(Conn& c) {
  epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  conns_.erase(c.fd);  // destroys c
}

void Origin::on_readable(Conn& c) {
  char buf[16384];
  for (;;) {
    ssize_t n = cold_fill::recv_stamped(c.fd, buf, sizeof buf, c.rx_at);
    if (n > 0) {
      c.in.append(buf, size_t(n));
      if (size_t(n) < sizeof buf) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    return close_conn(c);  // the peer left (or an error)
  }
  handle_requests(c);
}

void Origin::handle_requests(Conn& c) {
  // One request at a time per connection (keep-alive, no pipelining in practice).
  while (!c.busy) {
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > 65536) close_conn(c);
      return;
    }
    std::string head = c.in.substr(0, end + 4);
    c.in.erase(0, end + 4);
    const int64_t arrived = mono_ns();
    const double arrived_unix = unix_s();
    // The kernel's receive time of the request (on loopback: when the edge sent it),
    // on the monotonic clock: the head is paced from it, so the TTFB the edge sees is
    // --ttfb-ms however late this one thread got to read the request.
    const int64_t received = c.rx_at > 0 ? arrived - int64_t((arrived_unix - c.rx_at) * 1e9) : arrived;
    std::string lower = head;
    for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    c.close_after = lower.find("\r\nconnection: close") != std::string::npos;
    size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return close_conn(c);
    std::string method = head.substr(0, sp1), target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target == "/__stats") {
      std::string js = stats_json();
      c.out += "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(js.size()) +
               "\r\n\r\n" + js;
      c.served++;
      if (!flush(c)) return;
      if (c.close_after) return close_conn(c);
      continue;
    }
    // /bucket/key?query: the object key is everything after the bucket.
    std::string path = target.substr(0, target.find('?'));
    size_t slash = path.find('/', 1);
    std::string key = slash == std::string::npos ? "" : path.substr(slash + 1);
    const size_t size = key.find("/360p/") != std::string::npos ? o_.hit_size : o_.size;
    if (method == "HEAD") {
      c.out += "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(key.empty() ? 0 : size) + "\r\n\r\n";
      c.served++;
      if (!flush(c)) return;
      if (c.close_after) return close_conn(c);
      continue;
    }
    if (gets_[key]++ == 0) {
      arrived_at_[key] = arrived_unix;
      received_at_[key] = c.rx_at > 0 ? c.rx_at : arrived_unix;
      accepted_at_[key] = c.accepted_at;
      reused_[key] = c.served > 0;
    }
    c.busy = true;
    c.key = key;
    c.unit = cold_fill::body_unit(key);
    c.size = size;
    c.step = (size + o_.slices - 1) / o_.slices;
    c.next_slice = 0;
    c.arrived_ns = std::min(received, arrived);
    c.head_due_ns = c.arrived_ns + int64_t(o_.ttfb_ms * 1e6);
    c.body_start_ns = 0;
    arm(c, c.head_due_ns);
  }
}

void Origin::arm(Conn& c, int64_t due_ns) {
  c.timer_seq = ++seq_;
  timers_.push({due_ns, c.fd, c.timer_seq});
  rearm_timerfd();
}

void Origin::rearm_timerfd() {
  if (timers_.empty() || timers_.top().due_ns == armed_ns_) return;
  armed_ns_ = timers_.top().due_ns;
  itimerspec its{};
  its.it_value.tv_sec = armed_ns_ / 1000000000;
  its.it_value.tv_nsec = armed_ns_ % 1000000000;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void Origin::on_timer() {
  uint64_t expirations;
  while (read(tfd_, &expirations, sizeof expirations) > 0) {
  }
  armed_ns_ = -1;
  const int64_t now = mono_ns();
  while (!timers_.empty() && timers_.top().due_ns <= now) {
    Timer t = timers_.top();
    timers_.pop();
    auto it = conns_.find(t.fd);
    if (it == conns_.end() || it->second->timer_seq != t.seq) continue;  // stale
    send_due(*it->second);
  }
  rearm_timerfd();
}

void Origin::send_due(Conn& c) {
  if (c.body_start_ns == 0) {
    c.out += "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(c.size) + "\r\nContent-Type: video/mp2t\r\n\r\n";
    const int64_t now = mono_ns();
    c.body_start_ns = now;
    if (!head_ms_.count(c.key)) {
      head_ms_[c.key] = double(now - c.arrived_ns) / 1e6;
      head_at_[c.key] = unix_s();
    }
  }
  // Slice i is due i/slices of the way through: the first with the head, the last at the end.
  const size_t off = c.next_slice * c.step;
  append_body(c.out, c.unit, c.size, off, c.step);
  c.next_slice++;
  if (c.next_slice < o_.slices) {
    if (!flush(c)) return;
    arm(c, c.body_start_ns + int64_t(o_.seconds * 1e9 * double(c.next_slice) / double(o_.slices)));
    return;
  }
  c.busy = false;
  c.served++;
  if (!flush(c)) return;
  if (c.close_after && c.out.empty()) return close_conn(c);
  handle_requests(c);  // a request that came meanwhile
}

bool Origin::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The peer reads slower than we pace: go on when the socket drains.
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT;
      ev.data.fd = c.fd;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      return true;
    }
    close_conn(c);
    return false;
  }
  c.out.clear();
  c.out_off = 0;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = c.fd;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  return true;
}

std::string Origin::stats_json() const {
  auto obj = [](const auto& m, auto fmt) {
    std::string s = "{";
    for (const auto& [k, v] : m) {
      if (s.size() > 1) s += ',';
      s += json_str(k) + ":" + fmt(v);
    }
    return s + "}";
  };
  auto num = [](double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6f", v);
    return std::string(b);
  };
  return "{\"gets\":" + obj(gets_, [](int v) { return std::to_string(v); }) + ",\"head_ms\":" + obj(head_ms_, num) +
         ",\"arrived_at\":" + obj(arrived_at_, num) + ",\"received_at\":" + obj(received_at_, num) +
         ",\"head_at\":" + obj(head_at_, num) + ",\"accepted_at\":" + obj(accepted_at_, num) +
         ",\"reused\":" + obj(reused_, [](bool v) { return std::string(v ? "true" : "false"); }) +
         ",\"connections\":" + std::to_string(accepted_) + "}";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: cold_fill_origin PORT [--ttfb-ms 100] [--seconds 2] [--size 1048576] [--hit-size 65536] "
                 "[--slices 20]\n");
    return 2;
  };
  if (argc < 2) return usage();
  o.port = std::atoi(argv[1]);
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--ttfb-ms") o.ttfb_ms = std::atof(v);
    else if (f == "--seconds") o.seconds = std::atof(v);
    else if (f == "--size") o.size = size_t(std::atoll(v));
    else if (f == "--hit-size") o.hit_size = size_t(std::atoll(v));
    else if (f == "--slices") o.slices = size_t(std::atoll(v));
    else return usage();
  }
  if (o.port <= 0 || o.slices == 0 || argc % 2 != 0) return usage();
  return Origin(o).run();
}
