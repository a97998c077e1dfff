#include "core/log.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

namespace rend::core::log {
namespace {

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  out += json_escape(s);
  out += '"';
}

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

std::mutex g_mu;

void write_line(std::string_view line) {
  std::lock_guard lk(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

// write_async's queue and its writer thread (started by the first write_async).
struct AsyncLog {
  std::mutex mu;
  std::condition_variable wake, drained;
  std::string pending;  // rendered lines, in order
  size_t pending_lines = 0;
  uint64_t queued = 0, written = 0;  // line counts, for flush()
  bool writer_idle = false;
  bool flush_requested = false;
  bool exiting = false;
};

// Never destroyed: other threads may still log while the process exits.
AsyncLog& async_log() {
  static auto* a = new AsyncLog;
  return *a;
}

void writer_loop() {
  auto& a = async_log();
  std::string batch;
  std::unique_lock lk(a.mu);
  for (;;) {
    a.writer_idle = true;
    a.wake.wait(lk, [&] { return a.pending_lines > 0; });
    a.writer_idle = false;
    a.flush_requested = false;
    batch.swap(a.pending);
    a.pending_lines = 0;
    const uint64_t upto = a.queued;
    lk.unlock();
    write_line(batch);
    batch.clear();
    // A short pause lets lines gather under load (one write per batch instead of one
    // per line); flush() cuts it short.
    lk.lock();
    a.written = upto;
    a.drained.notify_all();
    a.wake.wait_for(lk, std::chrono::milliseconds(2),
                    [&] { return a.exiting || a.flush_requested || a.pending_lines >= 4096; });
  }
}

void flush_at_exit() {
  {
    std::lock_guard lk(async_log().mu);
    async_log().exiting = true;
  }
  flush();
}

}  // namespace

// A table of JSON's escapes (RFC 8259 section 7). s3/xml.cpp (XML) and
// clickhouse/schema.cpp (TabSeparated) have tables of the same shape for other
// formats: deliberate, each escapes what its own grammar needs.
std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out;
}

std::string format(Level level, std::string_view event, std::initializer_list<Field> fields) {
  return format(level, event, std::vector<Field>(fields));
}

std::string format(Level level, std::string_view event, const std::vector<Field>& fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms));
  std::string out = "{\"ts\":\"";
  out += ts;
  out += "\",\"level\":\"";
  out += level_name(level);
  out += "\",\"event\":";
  append_escaped(out, event);
  for (const auto& [k, v] : fields) {
    out += ',';
    append_escaped(out, k);
    out += ':';
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, bool>) out += x ? "true" : "false";
          else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>)
            append_escaped(out, x);
          else if constexpr (std::is_same_v<T, const char*>) append_escaped(out, x ? x : "");
          else out += std::to_string(x);
        },
        v);
  }
  out += "}\n";
  return out;
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  write(level, event, std::vector<Field>(fields));
}

void write(Level level, std::string_view event, const std::vector<Field>& fields) {
  write_line(format(level, event, fields));
}

void write_async(Level level, std::string_view event, const std::vector<Field>& fields) {
  auto line = format(level, event, fields);
  static std::once_flag started;
  std::call_once(started, [] {
    std::thread(writer_loop).detach();
    std::atexit(flush_at_exit);
  });
  auto& a = async_log();
  std::unique_lock lk(a.mu);
  if (a.exiting || a.pending_lines >= kMaxQueuedLines) {
    lk.unlock();
    write_line(line);
    return;
  }
  a.pending += line;
  ++a.pending_lines;
  ++a.queued;
  const bool wake = a.writer_idle;
  lk.unlock();
  if (wake) a.wake.notify_one();
}

void flush() {
  auto& a = async_log();
  std::unique_lock lk(a.mu);
  const uint64_t target = a.queued;
  if (a.written >= target) return;
  a.flush_requested = true;
  a.wake.notify_one();
  a.drained.wait(lk, [&] { return a.written >= target; });
}

}  // namespace rend::core::log
