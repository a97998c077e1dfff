#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

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
  auto line = format(level, event, fields);
  std::lock_guard lk(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace rend::core::log
