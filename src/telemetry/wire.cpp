#include "telemetry/wire.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <iterator>

#include "core/log.h"

namespace rend::telemetry {

namespace {

constexpr size_t kMaxIdChars = 128;
constexpr size_t kMaxArtifactChars = 512;
// Integers beyond 2^53 are not exact in JavaScript or any double-based reader, and no
// real byte count or duration gets near it.
constexpr int64_t kMaxInteger = (int64_t(1) << 53) - 1;
// ClickHouse's DateTime is a UInt32 of unix seconds; later times cannot be stored.
constexpr int64_t kMaxTsMs = 4294967295LL * 1000 + 999;
constexpr double kMaxMediaSeconds = 86400;

// ---- encoding ----

void append_string(std::string& out, std::string_view s) {
  out += '"';
  // Ids and paths are plain ASCII almost always: copy them as they are, and only
  // take the allocating escaper for the rare string that needs it.
  bool plain = true;
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  if (plain) out.append(s);
  else out += core::log::json_escape(s);
  out += '"';
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_string(out, value);
}

void append_field(std::string& out, std::string_view name, int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_int(out, value);
}

// ---- decoding ----

// Character classes as tables: the checks run for ~10 strings per event.
struct Charset {
  bool ok[256] = {};
  constexpr explicit Charset(std::string_view extra) {
    for (int c = 'a'; c <= 'z'; ++c) ok[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) ok[c] = true;
    for (int c = '0'; c <= '9'; ++c) ok[c] = true;
    for (char c : extra) ok[static_cast<unsigned char>(c)] = true;
  }
  bool all(std::string_view s) const {
    for (char c : s)
      if (!ok[static_cast<unsigned char>(c)]) return false;
    return true;
  }
};
constexpr Charset kIdChars("._:-");
constexpr Charset kArtifactChars("._~/-");

std::string field_error(std::string_view where, std::string_view field, std::string_view what) {
  std::string out(where);
  out += field;
  out += ' ';
  out += what;
  return out;
}

// nullopt when `v` is a valid id (empty allowed only when `may_be_empty`).
std::optional<std::string> check_id(std::string_view v, std::string_view where, std::string_view field,
                                    bool may_be_empty) {
  if (v.empty()) {
    if (may_be_empty) return std::nullopt;
    return field_error(where, field, "must not be empty");
  }
  if (v.size() <= kMaxIdChars && kIdChars.all(v)) return std::nullopt;
  return field_error(where, field, "must be at most 128 characters of [A-Za-z0-9._:-]");
}

// A required top-level string field; error names the field.
std::optional<std::string> top_string(const boost::json::object& o, std::string_view name, std::string& out) {
  auto* v = o.if_contains(name);
  if (!v) return std::string(name) + " is required";
  if (!v->is_string()) return std::string(name) + " must be a string";
  out.assign(v->get_string().data(), v->get_string().size());
  return std::nullopt;
}

// An event's fields, in the order in which problems are reported.
enum Field : int {
  kEventId,
  kTsMs,
  kEdgeId,
  kRegion,
  kAssetId,
  kArtifact,
  kKind,
  kTier,
  kSessionId,
  kStatus,
  kBytes,
  kCache,
  kTtfbMs,
  kDurationMs,
  kMediaSeconds,
  kFieldCount
};
constexpr std::string_view kFieldNames[kFieldCount] = {"event_id", "ts_ms", "edge_id", "region",      "asset_id",
                                                       "artifact", "kind",  "tier",    "session_id",  "status",
                                                       "bytes",    "cache", "ttfb_ms", "duration_ms", "media_seconds"};

// The field a key names, or -1. One pass over an event's keys with this is cheaper
// than fifteen lookups by name (boost::json scans small objects linearly).
int field_index(std::string_view k) {
  int i;
  switch (k.size()) {
    case 4: i = k[0] == 'k' ? kKind : kTier; break;
    case 5: i = k[0] == 't' ? kTsMs : k[0] == 'b' ? kBytes : kCache; break;
    case 6: i = k[0] == 'r' ? kRegion : kStatus; break;
    case 7: i = k[0] == 'e' ? kEdgeId : kTtfbMs; break;
    case 8: i = k[0] == 'e' ? kEventId : k[1] == 's' ? kAssetId : kArtifact; break;
    case 10: i = kSessionId; break;
    case 11: i = kDurationMs; break;
    case 13: i = kMediaSeconds; break;
    default: return -1;
  }
  return k == kFieldNames[i] ? i : -1;
}

// Reads one event object into `e`. The problem with the first field (in Field order)
// that is missing or of the wrong type, if any; value rules are check_event's.
std::optional<std::string> read_event(const boost::json::object& o, std::string_view where, PlaybackEvent& e) {
  enum Problem : uint8_t { kNone, kMissing, kNotString, kNotInteger, kOutOfRange, kNotNumber };
  Problem problem[kFieldCount];
  std::fill(std::begin(problem), std::end(problem), kMissing);
  int64_t status = 0;
  for (const auto& kv : o) {
    int f = field_index(kv.key());
    if (f < 0) continue;  // unknown fields are ignored (a newer edge may send more)
    const auto& v = kv.value();
    problem[f] = kNone;
    if (f == kMediaSeconds) {
      if (v.is_double()) e.media_seconds = v.get_double();
      else if (v.is_int64()) e.media_seconds = double(v.get_int64());
      else if (v.is_uint64()) e.media_seconds = double(v.get_uint64());
      else problem[f] = kNotNumber;
      continue;
    }
    int64_t* num = f == kTsMs         ? &e.ts_ms
                   : f == kStatus     ? &status
                   : f == kBytes      ? &e.bytes
                   : f == kTtfbMs     ? &e.ttfb_ms
                   : f == kDurationMs ? &e.duration_ms
                                      : nullptr;
    if (num) {
      if (v.is_int64()) *num = v.get_int64();
      else problem[f] = v.is_uint64() ? kOutOfRange : kNotInteger;
      continue;
    }
    std::string* str = f == kEventId     ? &e.event_id
                       : f == kEdgeId    ? &e.edge_id
                       : f == kRegion    ? &e.region
                       : f == kAssetId   ? &e.asset_id
                       : f == kArtifact  ? &e.artifact
                       : f == kKind      ? &e.kind
                       : f == kTier      ? &e.tier
                       : f == kSessionId ? &e.session_id
                                         : &e.cache;
    if (v.is_string()) str->assign(v.get_string().data(), v.get_string().size());
    else problem[f] = kNotString;
  }
  for (int f = 0; f < kFieldCount; ++f) {
    static constexpr std::string_view kWhat[] = {
        "", "is required", "must be a string", "must be an integer", "is out of range", "must be a number"};
    if (problem[f] != kNone) return field_error(where, kFieldNames[f], kWhat[problem[f]]);
  }
  // Range-check before narrowing, so 4294967496 is not read as 200.
  e.status = status >= 100 && status <= 599 ? int(status) : 0;
  return std::nullopt;
}

// The per-event rules, for an event of std::strings (PlaybackEvent) or of views into a
// binary body (EventView): one definition, so the two formats cannot disagree.
template <class E>
std::optional<std::string> check_fields(const E& e, std::string_view where) {
  // Messages are built only on failure: this runs for every event of every batch.
  auto bad = [&](std::string_view field, std::string_view what) -> std::optional<std::string> {
    return field_error(where, field, what);
  };
  if (auto err = check_id(e.event_id, where, "event_id", false)) return err;
  if (e.ts_ms < 0 || e.ts_ms > kMaxTsMs) return bad("ts_ms", "must be a unix time in ms between 0 and 2106");
  if (auto err = check_id(e.edge_id, where, "edge_id", false)) return err;
  if (auto err = check_id(e.region, where, "region", false)) return err;
  if (auto err = check_id(e.asset_id, where, "asset_id", true)) return err;
  if (e.artifact.size() > kMaxArtifactChars || !kArtifactChars.all(e.artifact))
    return bad("artifact", "must be at most 512 characters of [A-Za-z0-9._~/-]");
  if (e.kind != "master" && e.kind != "playlist" && e.kind != "segment" && e.kind != "poster" && e.kind != "other")
    return bad("kind", "must be one of master, playlist, segment, poster, other");
  if (auto err = check_id(e.tier, where, "tier", true)) return err;
  if (auto err = check_id(e.session_id, where, "session_id", true)) return err;
  if (e.status < 100 || e.status > 599) return bad("status", "must be an HTTP status (100..599)");
  if (e.bytes < 0 || e.bytes > kMaxInteger) return bad("bytes", "must be between 0 and 2^53-1");
  if (e.cache != "HIT" && e.cache != "MISS") return bad("cache", "must be HIT or MISS");
  if (e.ttfb_ms < 0 || e.ttfb_ms > kMaxInteger) return bad("ttfb_ms", "must be between 0 and 2^53-1");
  if (e.duration_ms < 0 || e.duration_ms > kMaxInteger) return bad("duration_ms", "must be between 0 and 2^53-1");
  // Written as !(a <= x <= b) so that NaN fails too.
  if (!(e.media_seconds >= 0 && e.media_seconds <= kMaxMediaSeconds))
    return bad("media_seconds", "must be between 0 and 86400");
  return std::nullopt;
}

}  // namespace

std::string encode_batch(const std::string& batch_id, std::span<const PlaybackEvent> events) {
  std::string out;
  // ~360 bytes per typical event: one allocation for a whole batch in most cases.
  out.reserve(64 + events.size() * 360);
  out += "{\"batch_id\":";
  append_string(out, batch_id);
  append_field(out, "edge_id", events.empty() ? std::string_view() : std::string_view(events.front().edge_id));
  out += ",\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    out += i ? ",{\"event_id\":" : "{\"event_id\":";
    append_string(out, e.event_id);
    append_field(out, "ts_ms", e.ts_ms);
    append_field(out, "edge_id", e.edge_id);
    append_field(out, "region", e.region);
    append_field(out, "asset_id", e.asset_id);
    append_field(out, "artifact", e.artifact);
    append_field(out, "kind", e.kind);
    append_field(out, "tier", e.tier);
    append_field(out, "session_id", e.session_id);
    append_field(out, "status", int64_t(e.status));
    append_field(out, "bytes", e.bytes);
    append_field(out, "cache", e.cache);
    append_field(out, "ttfb_ms", e.ttfb_ms);
    append_field(out, "duration_ms", e.duration_ms);
    // Fixed notation: JSON has no NaN, and a reader should never meet "8E0". Three
    // decimals are millisecond precision, more than any segment duration carries.
    double ms = std::isfinite(e.media_seconds) && e.media_seconds > 0 ? e.media_seconds : 0.0;
    char buf[400];  // fixed notation of DBL_MAX with 3 decimals fits
    auto r = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
    out += ",\"media_seconds\":";
    out.append(buf, r.ptr);
    out += '}';
  }
  out += "]}";
  return out;
}

std::optional<std::string> check_event(const PlaybackEvent& e, std::string_view where) {
  return check_fields(e, where);
}

namespace {

DecodeResult decode_json(std::string_view body, size_t max_events) {
  DecodeResult out;
  auto fail = [&](std::string msg) {
    out.events.clear();
    out.error = std::move(msg);
    return std::move(out);
  };

  // One arena for the whole DOM: a batch is thousands of small strings and objects,
  // all freed together when this function returns.
  boost::json::monotonic_resource arena;
  boost::system::error_code ec;
  auto doc = boost::json::parse(body, ec, &arena);
  if (ec) return fail("body is not valid JSON (" + ec.message() + ")");
  if (!doc.is_object()) return fail("body must be a JSON object");
  const auto& root = doc.get_object();

  if (auto err = top_string(root, "batch_id", out.batch_id)) return fail(*err);
  if (auto err = top_string(root, "edge_id", out.edge_id)) return fail(*err);
  if (auto err = check_id(out.batch_id, "", "batch_id", false)) return fail(*err);
  if (auto err = check_id(out.edge_id, "", "edge_id", false)) return fail(*err);

  auto* events = root.if_contains("events");
  if (!events) return fail("events is required");
  if (!events->is_array()) return fail("events must be an array");
  const auto& arr = events->get_array();
  if (arr.empty()) return fail("events must not be empty");
  if (arr.size() > max_events)
    return fail("events has " + std::to_string(arr.size()) + " entries; at most " + std::to_string(max_events) +
                " are accepted per batch");

  out.events.reserve(arr.size());
  std::string where;
  for (size_t i = 0; i < arr.size(); ++i) {
    where = "events[" + std::to_string(i) + "].";
    if (!arr[i].is_object()) return fail("events[" + std::to_string(i) + "] must be an object");
    // Built in place: an event is eleven strings, not worth moving.
    auto& e = out.events.emplace_back();
    e.batch_id = out.batch_id;
    if (auto err = read_event(arr[i].get_object(), where, e)) return fail(*err);
    if (auto err = check_event(e, where)) return fail(*err);
  }
  return out;
}

}  // namespace

}  // namespace rend::telemetry

namespace rend::telemetry {
namespace {

// An event of a binary body: views into it, checked by check_fields like a PlaybackEvent.
struct EventView {
  std::string_view event_id, edge_id, region, asset_id, artifact, kind, tier, session_id, cache;
  int64_t ts_ms = 0, bytes = 0, ttfb_ms = 0, duration_ms = 0;
  int32_t status = 0;
  double media_seconds = 0;
};

// What stopped read_row: the field, and whether its length was beyond the limit (else
// the body ended or a length ran past it).
struct RowProblem {
  std::string_view field;
  bool too_long = false;
};

std::string describe(const RowProblem& p, std::string_view where) {
  if (!p.too_long) return "body is truncated or malformed at " + std::string(where) + std::string(p.field);
  // The messages check_fields gives for the same field, so both formats read alike.
  std::string_view what = p.field == "artifact" ? "must be at most 512 characters of [A-Za-z0-9._~/-]"
                          : p.field == "kind"   ? "must be one of master, playlist, segment, poster, other"
                          : p.field == "cache"  ? "must be HIT or MISS"
                                                : "must be at most 128 characters of [A-Za-z0-9._:-]";
  return field_error(where, p.field, what);
}

// Reads one row into `e`; the problem when it cannot. No allocation.
std::optional<RowProblem> read_row(store::RowReader& r, EventView& e) {
  std::optional<RowProblem> problem;
  auto str = [&](std::string_view& out, std::string_view field, uint64_t max) {
    if (problem) return;
    if (!r.str(out, max)) problem = RowProblem{field, r.too_long()};
  };
  auto num = [&](auto& out, std::string_view field) {
    if (problem) return;
    if (!r.fixed(out)) problem = RowProblem{field, false};
  };
  str(e.event_id, "event_id", kMaxIdChars);
  num(e.ts_ms, "ts_ms");
  str(e.edge_id, "edge_id", kMaxIdChars);
  str(e.region, "region", kMaxIdChars);
  str(e.asset_id, "asset_id", kMaxIdChars);
  str(e.artifact, "artifact", kMaxArtifactChars);
  str(e.kind, "kind", kMaxIdChars);
  str(e.tier, "tier", kMaxIdChars);
  str(e.session_id, "session_id", kMaxIdChars);
  num(e.status, "status");
  num(e.bytes, "bytes");
  str(e.cache, "cache", kMaxIdChars);
  num(e.ttfb_ms, "ttfb_ms");
  num(e.duration_ms, "duration_ms");
  num(e.media_seconds, "media_seconds");
  return problem;
}

std::string where_of(size_t i) { return "events[" + std::to_string(i) + "]."; }

}  // namespace

std::string encode_batch_binary(const std::string& batch_id, std::span<const PlaybackEvent> events) {
  std::string out;
  // ~200 bytes per typical event: one allocation for a whole batch in most cases.
  out.reserve(64 + batch_id.size() + events.size() * 200);
  out += kBinaryMagic;
  store::put_packed_string(out, batch_id);
  store::put_packed_string(out, events.empty() ? std::string_view() : std::string_view(events.front().edge_id));
  store::put_packed_fixed(out, uint32_t(events.size()));
  for (const auto& e : events) store::append_packed_row(out, e);
  return out;
}

BinaryBatch check_binary_batch(std::string_view body, size_t max_events) {
  BinaryBatch out;
  auto fail = [&](std::string msg) {
    out.error = std::move(msg);
    out.rows = {};
    return std::move(out);
  };
  if (!is_binary_batch(body)) return fail("body is not a telemetry batch (v1 starts with \"RNDT\" and version 1)");
  store::RowReader r(body.substr(kBinaryMagic.size()));
  if (!r.str(out.batch_id, kMaxIdChars)) return fail(describe({"batch_id", r.too_long()}, ""));
  if (!r.str(out.edge_id, kMaxIdChars)) return fail(describe({"edge_id", r.too_long()}, ""));
  if (auto err = check_id(out.batch_id, "", "batch_id", false)) return fail(*err);
  if (auto err = check_id(out.edge_id, "", "edge_id", false)) return fail(*err);
  uint32_t count = 0;
  if (!r.fixed(count)) return fail(describe({"count"}, ""));
  if (count == 0) return fail("events must not be empty");
  if (count > max_events)
    return fail("events has " + std::to_string(count) + " entries; at most " + std::to_string(max_events) +
                " are accepted per batch");
  const char* rows = r.pos();
  EventView e;
  for (size_t i = 0; i < count; ++i) {
    // The "events[i]." prefix is built only for a message: this loop must not allocate.
    if (auto problem = read_row(r, e)) return fail(describe(*problem, where_of(i)));
    if (auto err = check_fields(e, "")) return fail(where_of(i) + *err);
  }
  if (r.left())
    return fail("body has " + std::to_string(r.left()) + " bytes after the last of its " + std::to_string(count) +
                " events");
  out.rows = store::PackedRows{out.batch_id, std::string_view(rows, size_t(r.pos() - rows)), count};
  return out;
}

DecodeResult decode_batch(std::string_view body, size_t max_events) {
  if (!is_binary_batch(body)) return decode_json(body, max_events);
  DecodeResult out;
  auto checked = check_binary_batch(body, max_events);
  if (!checked.ok()) {
    out.error = std::move(checked.error);
    return out;
  }
  out.batch_id = checked.batch_id;
  out.edge_id = checked.edge_id;
  out.events.reserve(checked.rows.count);
  try {
    store::unpack_rows(checked.rows, out.events);
  } catch (const std::exception& e) {  // not expected: the rows were just checked
    out.events.clear();
    out.error = e.what();
  }
  return out;
}

}  // namespace rend::telemetry
