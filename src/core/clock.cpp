#include <cstdio>
#include <ctime>
#include <string>

#include "core/clock.h"

namespace rend::core {

std::string format_rfc3339_ms(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(unix_ms % 1000));
  return ts;
}

}  // namespace rend::core
