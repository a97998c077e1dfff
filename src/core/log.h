#pragma once
// Structured logging: one JSON object per line on stderr. Callers pass fields
// explicitly; never pass secrets, tokens, cookies, IPs or signed URLs.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rend::core::log {

using Value = std::variant<std::string, std::string_view, const char*, int64_t, int, uint64_t, double, bool>;
using Field = std::pair<std::string_view, Value>;

enum class Level { debug, info, warn, error };

void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});
// For events whose field list is built at run time (optional fields).
void write(Level level, std::string_view event, const std::vector<Field>& fields);
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::error, e, f); }

// The same line, handed to a background writer instead of written now: for events on
// a hot request path (the player bootstrap's selection line), so that the request
// does not wait for stderr or its lock. The line is rendered (and timestamped) here;
// the writer writes what has queued in one write(2) every few milliseconds, in order.
// Relative to write() lines may come out late (milliseconds), never lost: past
// kMaxQueuedLines queued lines, and from exit on, the caller writes its line itself.
void write_async(Level level, std::string_view event, const std::vector<Field>& fields);
inline constexpr size_t kMaxQueuedLines = 65536;
// Returns once every line queued by write_async before the call is written. Runs at
// exit (std::atexit) too.
void flush();

// Escapes a string for a JSON string literal (without the quotes). Shared by the
// log writer and hand-built JSON bodies.
std::string json_escape(std::string_view s);

// Renders the line without writing it (used by write() and by tests).
std::string format(Level level, std::string_view event, std::initializer_list<Field> fields);
std::string format(Level level, std::string_view event, const std::vector<Field>& fields);

}  // namespace rend::core::log
