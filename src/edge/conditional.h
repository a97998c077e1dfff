#pragma once
// Pure, allocation-free evaluation of the two request headers a cached object
// answers to: Range (RFC 9110 §14.2) and If-None-Match (RFC 9110 §13.1.2). No I/O,
// total on any input (a fuzzing target): malformed input is never an error, it
// only means "ignore the header" (Range) or "no match" (If-None-Match).
#include <cstdint>
#include <string_view>

namespace rend::edge {

struct ByteRange {
  uint64_t first = 0, last = 0;  // inclusive
};

struct RangeParse {
  enum Result {
    ignore,         // absent, malformed, another unit or several ranges: serve the whole object (200)
    satisfiable,    // serve `range` (206)
    unsatisfiable,  // 416 with Content-Range: bytes */size
  } result = ignore;
  ByteRange range;
};

// A "bytes" range set (unit case-insensitive; list elements separated by commas
// with optional whitespace, empty elements skipped) against an object of `size`
// bytes. One range is served; several are ignored (a server may ignore Range;
// multipart/byteranges is not worth it for HLS). first-last (last clamped to the
// end), first- (to the end), -suffix (the last suffix bytes). A first position at
// or beyond the end, a zero suffix, or any range of an empty object is
// unsatisfiable; last < first, a sign or a space in a number is malformed.
RangeParse parse_range(std::string_view header, uint64_t size);

// Whether an If-None-Match value matches a current representation whose entity
// tag is `etag` (e.g. "\"1f-18c\"" or "W/\"x\""): "*" matches any; otherwise a
// comma-separated list of entity tags compared with the weak comparison (the
// W/ prefix on either side is ignored, the opaque tags must be identical).
// A malformed list matches nothing after the malformed element.
bool if_none_match_matches(std::string_view header, std::string_view etag);

}  // namespace rend::edge
