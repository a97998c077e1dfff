#pragma once
// Playback events packed as ClickHouse RowBinary rows: what the telemetry binary wire
// format (telemetry/wire.h) carries per event, so the API can journal the bytes an edge
// sent and hand them to the analytics store without building a PlaybackEvent per row.
//
// One row, in this column order (S = LEB128 length, then that many bytes; numbers are
// fixed-width little-endian):
//   event_id S | ts_ms Int64 | edge_id S | region S | asset_id S | artifact S | kind S |
//   tier S | session_id S | status Int32 | bytes Int64 | cache S | ttfb_ms Int64 |
//   duration_ms Int64 | media_seconds Float64
// The batch_id is the batch's, not repeated per row. Rows given to the store were
// validated by the telemetry wire codec (every check_event rule); RowReader still
// never reads past its input, so a corrupt journal cannot crash the reader.
#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rend::store {

static_assert(std::endian::native == std::endian::little, "packed rows are little-endian");

struct PlaybackEvent;

// `count` rows of the layout above, back to back in `rows`; the views point into memory
// the caller keeps alive for the call.
struct PackedRows {
  std::string_view batch_id;
  std::string_view rows;
  size_t count = 0;
};

// A cursor over packed bytes. Every read returns false (and reads nothing) when the
// input is too short; strings are views into the input, no copy.
class RowReader {
 public:
  explicit RowReader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool str(std::string_view& out, uint64_t max_len) {
    uint64_t n = 0;
    int shift = 0;
    for (;;) {
      if (p_ == end_ || shift > 63) return false;
      const auto b = uint8_t(*p_++);
      n |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    if (n > max_len || n > uint64_t(end_ - p_)) {
      too_long_ = n > max_len && n <= uint64_t(end_ - p_);
      return false;
    }
    out = std::string_view(p_, size_t(n));
    p_ += n;
    return true;
  }

  template <class T>
  bool fixed(T& out) {
    if (size_t(end_ - p_) < sizeof(T)) return false;
    std::memcpy(&out, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }

  const char* pos() const { return p_; }
  size_t left() const { return size_t(end_ - p_); }
  // The last failed str() named a length beyond its max_len (present in full), rather
  // than running past the input.
  bool too_long() const { return too_long_; }

 private:
  const char* p_;
  const char* end_;
  bool too_long_ = false;
};

// Skips `n` rows; false when the input ends first. What ClickHouse needs to find a row's
// end (to append the per-insert columns) and the ingest buffer to split an insert.
inline bool skip_rows(RowReader& r, size_t n) {
  constexpr uint64_t kAny = ~uint64_t(0);
  std::string_view s;
  int64_t i64;
  int32_t i32;
  double f64;
  for (size_t i = 0; i < n; ++i) {
    if (!(r.str(s, kAny) && r.fixed(i64) && r.str(s, kAny) && r.str(s, kAny) && r.str(s, kAny) && r.str(s, kAny) &&
          r.str(s, kAny) && r.str(s, kAny) && r.str(s, kAny) && r.fixed(i32) && r.fixed(i64) && r.str(s, kAny) &&
          r.fixed(i64) && r.fixed(i64) && r.fixed(f64)))
      return false;
  }
  return true;
}

// Appends the LEB128 length and the bytes, as RowBinary writes a String.
inline void put_packed_string(std::string& out, std::string_view s) {
  uint64_t n = s.size();
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out += char(n ? b | 0x80 : b);
  } while (n);
  out.append(s);
}

template <class T>
void put_packed_fixed(std::string& out, T v) {
  char buf[sizeof v];
  std::memcpy(buf, &v, sizeof v);
  out.append(buf, sizeof v);
}

}  // namespace rend::store
