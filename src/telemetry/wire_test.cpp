#include "telemetry/wire.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>

// GCC takes the replacement operator delete below for a mismatch with operator new; it
// is the standard replacement pair (both on malloc/free).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts this thread's heap allocations while `g_counting` is set: the binary path's
// check must not allocate per event (the API's CPU per event is the point of it).
namespace {
thread_local bool g_counting = false;
thread_local size_t g_allocations = 0;
}  // namespace
void* operator new(size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace rend::telemetry {
namespace {

PlaybackEvent event(int i) {
  PlaybackEvent e;
  e.event_id = "evt_" + std::to_string(i);
  e.batch_id = "ignored";
  e.ts_ms = 1'800'000'000'000 + i;
  e.edge_id = "edge-a";
  e.region = "eu-west";
  e.asset_id = "ast_abcdefghijklmnopqrstuvwxyz";
  e.artifact = "720p/seg_0000" + std::to_string(i % 10) + ".ts";
  e.kind = "segment";
  e.tier = "720p";
  e.session_id = "ses.9f86d081:884c";
  e.status = i % 2 ? 206 : 200;
  e.bytes = 1'000'000 + i;
  e.cache = i % 3 ? "HIT" : "MISS";
  e.ttfb_ms = i;
  e.duration_ms = 2 * i;
  e.media_seconds = 4.004;
  return e;
}

std::vector<PlaybackEvent> events(int n) {
  std::vector<PlaybackEvent> v;
  for (int i = 0; i < n; ++i) v.push_back(event(i));
  return v;
}

TEST(AnalyticsJson, RoundTripsEveryField) {
  auto in = events(5);
  in[1].kind = "master";
  in[1].tier = "";
  in[1].session_id = "";
  in[1].media_seconds = 0;
  in[2].asset_id = "";
  in[2].artifact = "";
  in[2].kind = "other";
  in[3].bytes = (int64_t(1) << 53) - 1;
  in[4].media_seconds = 86400;
  auto out = decode_batch(encode_batch("bat_1", in), 100);
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.batch_id, "bat_1");
  EXPECT_EQ(out.edge_id, "edge-a");
  ASSERT_EQ(out.events.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& a = in[i];
    const auto& b = out.events[i];
    EXPECT_EQ(b.event_id, a.event_id);
    EXPECT_EQ(b.batch_id, "bat_1");  // the batch's, not the event's
    EXPECT_EQ(b.ts_ms, a.ts_ms);
    EXPECT_EQ(b.edge_id, a.edge_id);
    EXPECT_EQ(b.region, a.region);
    EXPECT_EQ(b.asset_id, a.asset_id);
    EXPECT_EQ(b.artifact, a.artifact);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.tier, a.tier);
    EXPECT_EQ(b.session_id, a.session_id);
    EXPECT_EQ(b.status, a.status);
    EXPECT_EQ(b.bytes, a.bytes);
    EXPECT_EQ(b.cache, a.cache);
    EXPECT_EQ(b.ttfb_ms, a.ttfb_ms);
    EXPECT_EQ(b.duration_ms, a.duration_ms);
    EXPECT_DOUBLE_EQ(b.media_seconds, a.media_seconds);
    EXPECT_FALSE(check_event(b)) << *check_event(b);
  }
}

TEST(AnalyticsJson, EncodesPlainDecimalsAndValidJson) {
  auto in = events(3);
  in[0].media_seconds = 8;
  in[1].media_seconds = std::nan("");
  in[2].media_seconds = 1e-7;
  std::string body = encode_batch("bat_x", in);
  EXPECT_NE(body.find("\"media_seconds\":8.000}"), std::string::npos) << body;
  EXPECT_NE(body.find("\"media_seconds\":0.000}"), std::string::npos) << body;
  EXPECT_EQ(body.find('E'), std::string::npos) << body;
  EXPECT_EQ(body.find("nan"), std::string::npos) << body;
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  ASSERT_FALSE(ec) << body;
  EXPECT_EQ(v.at("events").as_array().size(), 3u);
}

TEST(AnalyticsJson, EscapesStringsThatNeedIt) {
  // The decoder would refuse these ids, but the encoder must still never emit broken
  // JSON (a spooled file that cannot be parsed is lost for good).
  auto in = events(1);
  in[0].artifact = "a\"b\\c\n\x01";
  std::string body = encode_batch("bat_\"q", in);
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  ASSERT_FALSE(ec) << body;
  EXPECT_EQ(v.at("batch_id").as_string(), "bat_\"q");
  EXPECT_EQ(v.at("events").as_array()[0].at("artifact").as_string(), "a\"b\\c\n\x01");
}

TEST(AnalyticsJson, EmptyEventListEncodesButIsRefused) {
  std::string body = encode_batch("bat_1", {});
  EXPECT_EQ(body, "{\"batch_id\":\"bat_1\",\"edge_id\":\"\",\"events\":[]}");
  EXPECT_FALSE(decode_batch(body, 10).ok());
}

TEST(AnalyticsJson, UnknownFieldsAreIgnored) {
  auto doc = boost::json::parse(encode_batch("bat_1", events(2)));
  doc.as_object()["version"] = 2;
  doc.at("events").as_array()[1].as_object()["new_field"] = boost::json::array{1, 2};
  auto out = decode_batch(boost::json::serialize(doc), 10);
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.events.size(), 2u);
}

TEST(AnalyticsJson, IntegralDoublesAreNotIntegers) {
  // 200.0 is a JSON number but not an integer: strict, so both sides agree on types.
  auto out = decode_batch(R"({"batch_id":"b","edge_id":"e","events":[{"event_id":"x","ts_ms":1,"edge_id":"e",)"
                          R"("region":"r","asset_id":"","artifact":"","kind":"other","tier":"","session_id":"",)"
                          R"("status":200.0,"bytes":0,"cache":"HIT","ttfb_ms":0,"duration_ms":0,"media_seconds":0}]})",
                          10);
  EXPECT_EQ(out.error, "events[0].status must be an integer");
}

// Each case edits a valid two-event batch; the error must name the first bad field.
struct Refusal {
  std::string name;
  std::function<void(boost::json::object&)> edit;
  std::string error;
};

class AnalyticsJsonRefusal : public ::testing::TestWithParam<Refusal> {};

boost::json::object& ev(boost::json::object& root, size_t i) { return root["events"].as_array()[i].as_object(); }

const Refusal kRefusals[] = {
    {"MissingBatchId", [](auto& r) { r.erase("batch_id"); }, "batch_id is required"},
    {"EmptyBatchId", [](auto& r) { r["batch_id"] = ""; }, "batch_id must not be empty"},
    {"BatchIdNotString", [](auto& r) { r["batch_id"] = 7; }, "batch_id must be a string"},
    {"BatchIdTooLong", [](auto& r) { r["batch_id"] = std::string(129, 'a'); },
     "batch_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"MissingEdgeId", [](auto& r) { r.erase("edge_id"); }, "edge_id is required"},
    {"MissingEvents", [](auto& r) { r.erase("events"); }, "events is required"},
    {"EventsNotArray", [](auto& r) { r["events"] = boost::json::object{}; }, "events must be an array"},
    {"EventsEmpty", [](auto& r) { r["events"] = boost::json::array{}; }, "events must not be empty"},
    {"EventNotObject", [](auto& r) { r["events"].as_array()[1] = "x"; }, "events[1] must be an object"},
    {"MissingField", [](auto& r) { ev(r, 1).erase("ttfb_ms"); }, "events[1].ttfb_ms is required"},
    {"StatusString", [](auto& r) { ev(r, 1)["status"] = "200"; }, "events[1].status must be an integer"},
    {"StatusOutOfRange", [](auto& r) { ev(r, 0)["status"] = 4294967496LL; },
     "events[0].status must be an HTTP status (100..599)"},
    {"BytesNegative", [](auto& r) { ev(r, 1)["bytes"] = -1; }, "events[1].bytes must be between 0 and 2^53-1"},
    {"BytesHuge", [](auto& r) { ev(r, 1)["bytes"] = uint64_t(1) << 63; }, "events[1].bytes is out of range"},
    {"BytesNull", [](auto& r) { ev(r, 0)["bytes"] = nullptr; }, "events[0].bytes must be an integer"},
    {"TsNegative", [](auto& r) { ev(r, 0)["ts_ms"] = -5; },
     "events[0].ts_ms must be a unix time in ms between 0 and 2106"},
    {"EventIdEmpty", [](auto& r) { ev(r, 1)["event_id"] = ""; }, "events[1].event_id must not be empty"},
    {"EventIdBadChar", [](auto& r) { ev(r, 1)["event_id"] = "evt 1"; },
     "events[1].event_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"RegionEmpty", [](auto& r) { ev(r, 0)["region"] = ""; }, "events[0].region must not be empty"},
    {"AssetIdSlash", [](auto& r) { ev(r, 0)["asset_id"] = "../x"; },
     "events[0].asset_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"ArtifactQuery", [](auto& r) { ev(r, 0)["artifact"] = "master.m3u8?token=secret"; },
     "events[0].artifact must be at most 512 characters of [A-Za-z0-9._~/-]"},
    {"KindUnknown", [](auto& r) { ev(r, 1)["kind"] = "video"; },
     "events[1].kind must be one of master, playlist, segment, poster, other"},
    {"CacheLowercase", [](auto& r) { ev(r, 1)["cache"] = "hit"; }, "events[1].cache must be HIT or MISS"},
    {"MediaSecondsNegative", [](auto& r) { ev(r, 1)["media_seconds"] = -0.5; },
     "events[1].media_seconds must be between 0 and 86400"},
    {"MediaSecondsString", [](auto& r) { ev(r, 1)["media_seconds"] = "4"; },
     "events[1].media_seconds must be a number"},
};

TEST_P(AnalyticsJsonRefusal, NamesTheFirstBadField) {
  auto doc = boost::json::parse(encode_batch("bat_1", events(2)));
  GetParam().edit(doc.as_object());
  auto out = decode_batch(boost::json::serialize(doc), 10);
  EXPECT_EQ(out.error, GetParam().error);
  EXPECT_TRUE(out.events.empty());  // nothing half-decoded for a caller to store
}

INSTANTIATE_TEST_SUITE_P(All, AnalyticsJsonRefusal, ::testing::ValuesIn(kRefusals),
                         [](const auto& info) { return info.param.name; });

TEST(AnalyticsJson, RefusesWhatIsNotABatch) {
  EXPECT_EQ(decode_batch("", 10).error.rfind("body is not valid JSON", 0), 0u);
  EXPECT_EQ(decode_batch("{\"batch_id\":", 10).error.rfind("body is not valid JSON", 0), 0u);
  EXPECT_EQ(decode_batch("[1,2]", 10).error, "body must be a JSON object");
  EXPECT_EQ(decode_batch("{}", 10).error, "batch_id is required");
}

TEST(AnalyticsJson, RefusesMoreEventsThanAllowed) {
  std::string body = encode_batch("bat_1", events(11));
  EXPECT_EQ(decode_batch(body, 10).error, "events has 11 entries; at most 10 are accepted per batch");
  EXPECT_TRUE(decode_batch(body, 11).ok());
}

TEST(AnalyticsJson, CheckEventFlagsWhatTheEdgeShouldNotSend) {
  auto e = event(1);
  EXPECT_FALSE(check_event(e));
  e.status = 0;  // e.g. a response that never got a status
  EXPECT_EQ(check_event(e, "x."), "x.status must be an HTTP status (100..599)");
}

// ---- binary v1 ----

TEST(TelemetryBinary, RoundTripsEveryField) {
  auto in = events(5);
  in[1].kind = "master";
  in[1].tier = "";
  in[1].session_id = "";
  in[1].media_seconds = 0;
  in[2].asset_id = "";
  in[2].artifact = std::string(512, 'a');
  in[2].kind = "other";
  in[3].bytes = (int64_t(1) << 53) - 1;
  in[3].event_id = std::string(128, 'e');  // a length of two LEB128 bytes
  in[4].media_seconds = 86400;
  in[4].ts_ms = 4294967295LL * 1000 + 999;
  const std::string body = encode_batch_binary("bat_1", in);
  ASSERT_TRUE(is_binary_batch(body));
  EXPECT_EQ(content_type_of(body), kBinaryContentType);
  auto checked = check_binary_batch(body, 100);
  ASSERT_TRUE(checked.ok()) << checked.error;
  EXPECT_EQ(checked.batch_id, "bat_1");
  EXPECT_EQ(checked.edge_id, "edge-a");
  EXPECT_EQ(checked.rows.batch_id, "bat_1");
  EXPECT_EQ(checked.rows.count, 5u);
  // The rows are the tail of the body, as they arrived (what the API journals/inserts).
  EXPECT_EQ(checked.rows.rows.data() + checked.rows.rows.size(), body.data() + body.size());

  auto out = decode_batch(body, 100);
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.batch_id, "bat_1");
  ASSERT_EQ(out.events.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& a = in[i];
    const auto& b = out.events[i];
    EXPECT_EQ(b.event_id, a.event_id);
    EXPECT_EQ(b.batch_id, "bat_1");
    EXPECT_EQ(b.ts_ms, a.ts_ms);
    EXPECT_EQ(b.edge_id, a.edge_id);
    EXPECT_EQ(b.region, a.region);
    EXPECT_EQ(b.asset_id, a.asset_id);
    EXPECT_EQ(b.artifact, a.artifact);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.tier, a.tier);
    EXPECT_EQ(b.session_id, a.session_id);
    EXPECT_EQ(b.status, a.status);
    EXPECT_EQ(b.bytes, a.bytes);
    EXPECT_EQ(b.cache, a.cache);
    EXPECT_EQ(b.ttfb_ms, a.ttfb_ms);
    EXPECT_EQ(b.duration_ms, a.duration_ms);
    EXPECT_EQ(b.media_seconds, a.media_seconds);  // exact: no decimal text in between
  }
  // JSON stays a JSON body, chosen by its first byte where no Content-Type is known.
  EXPECT_FALSE(is_binary_batch(encode_batch("bat_1", in)));
  EXPECT_EQ(content_type_of(encode_batch("bat_1", in)), kJsonContentType);
}

TEST(TelemetryBinary, CheckingAValidBatchDoesNotAllocate) {
  const std::string body = encode_batch_binary("bat_1", events(1000));
  g_allocations = 0;
  g_counting = true;
  auto checked = check_binary_batch(body, 1000);
  g_counting = false;
  ASSERT_TRUE(checked.ok()) << checked.error;
  EXPECT_EQ(g_allocations, 0u);
}

TEST(TelemetryBinary, EncoderNormalisesLikeJson) {
  auto in = events(2);
  in[0].media_seconds = std::nan("");
  in[1].media_seconds = -3;
  auto out = decode_batch(encode_batch_binary("bat_1", in), 10);
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.events[0].media_seconds, 0);
  EXPECT_EQ(out.events[1].media_seconds, 0);
}

// Every check_event rule, on the binary path: each case edits a valid two-event batch.
struct BinaryRefusal {
  std::string name;
  std::function<void(std::vector<PlaybackEvent>&)> edit;
  std::string error;
};

class TelemetryBinaryRefusal : public ::testing::TestWithParam<BinaryRefusal> {};

const BinaryRefusal kBinaryRefusals[] = {
    {"EventIdEmpty", [](auto& v) { v[1].event_id = ""; }, "events[1].event_id must not be empty"},
    {"EventIdBadChar", [](auto& v) { v[1].event_id = "evt 1"; },
     "events[1].event_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"EventIdTooLong", [](auto& v) { v[0].event_id = std::string(129, 'e'); },
     "events[0].event_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"TsNegative", [](auto& v) { v[0].ts_ms = -5; }, "events[0].ts_ms must be a unix time in ms between 0 and 2106"},
    {"TsAfter2106", [](auto& v) { v[0].ts_ms = 4294967296LL * 1000; },
     "events[0].ts_ms must be a unix time in ms between 0 and 2106"},
    {"EdgeIdEmpty", [](auto& v) { v[1].edge_id = ""; }, "events[1].edge_id must not be empty"},
    {"RegionEmpty", [](auto& v) { v[0].region = ""; }, "events[0].region must not be empty"},
    {"AssetIdSlash", [](auto& v) { v[0].asset_id = "../x"; },
     "events[0].asset_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"ArtifactQuery", [](auto& v) { v[0].artifact = "master.m3u8?token=secret"; },
     "events[0].artifact must be at most 512 characters of [A-Za-z0-9._~/-]"},
    {"ArtifactTooLong", [](auto& v) { v[0].artifact = std::string(513, 'a'); },
     "events[0].artifact must be at most 512 characters of [A-Za-z0-9._~/-]"},
    {"KindUnknown", [](auto& v) { v[1].kind = "video"; },
     "events[1].kind must be one of master, playlist, segment, poster, other"},
    {"KindHuge", [](auto& v) { v[1].kind = std::string(300, 's'); },
     "events[1].kind must be one of master, playlist, segment, poster, other"},
    {"TierBadChar", [](auto& v) { v[1].tier = "720p\n"; },
     "events[1].tier must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"SessionIdBadChar", [](auto& v) { v[1].session_id = "a b"; },
     "events[1].session_id must be at most 128 characters of [A-Za-z0-9._:-]"},
    {"StatusZero", [](auto& v) { v[0].status = 0; }, "events[0].status must be an HTTP status (100..599)"},
    {"StatusHigh", [](auto& v) { v[0].status = 600; }, "events[0].status must be an HTTP status (100..599)"},
    {"BytesNegative", [](auto& v) { v[1].bytes = -1; }, "events[1].bytes must be between 0 and 2^53-1"},
    {"BytesHuge", [](auto& v) { v[1].bytes = int64_t(1) << 53; }, "events[1].bytes must be between 0 and 2^53-1"},
    {"CacheLowercase", [](auto& v) { v[1].cache = "hit"; }, "events[1].cache must be HIT or MISS"},
    {"TtfbNegative", [](auto& v) { v[1].ttfb_ms = -1; }, "events[1].ttfb_ms must be between 0 and 2^53-1"},
    {"DurationHuge", [](auto& v) { v[1].duration_ms = INT64_MAX; },
     "events[1].duration_ms must be between 0 and 2^53-1"},
    {"MediaSecondsTooLarge", [](auto& v) { v[1].media_seconds = 86400.5; },
     "events[1].media_seconds must be between 0 and 86400"},
    {"FirstBadFieldWins", [](auto& v) { v[1].region = "", v[1].status = 0; }, "events[1].region must not be empty"},
};

TEST_P(TelemetryBinaryRefusal, NamesTheFirstBadField) {
  auto in = events(2);
  GetParam().edit(in);
  const std::string body = encode_batch_binary("bat_1", in);
  auto checked = check_binary_batch(body, 10);
  EXPECT_EQ(checked.error, GetParam().error);
  EXPECT_EQ(checked.rows.count, 0u);
  auto decoded = decode_batch(body, 10);
  EXPECT_EQ(decoded.error, GetParam().error);
  EXPECT_TRUE(decoded.events.empty());
  // The same rule, the same words, as check_event on the JSON path.
  auto json = decode_batch(encode_batch("bat_1", in), 10);
  if (GetParam().name != "KindHuge") {
    EXPECT_EQ(json.error, GetParam().error);
  }
}

INSTANTIATE_TEST_SUITE_P(All, TelemetryBinaryRefusal, ::testing::ValuesIn(kBinaryRefusals),
                         [](const auto& info) { return info.param.name; });

TEST(TelemetryBinary, RefusesMalformedHeaders) {
  auto with_header = [](std::string_view batch_id, std::string_view edge_id, uint32_t count) {
    std::string b(kBinaryMagic);
    store::put_packed_string(b, batch_id);
    store::put_packed_string(b, edge_id);
    store::put_packed_fixed(b, count);
    return b;
  };
  EXPECT_EQ(check_binary_batch("", 10).error, "body is not a telemetry batch (v1 starts with \"RNDT\" and version 1)");
  EXPECT_FALSE(check_binary_batch("RNDT\x02", 10).ok());  // a version this API does not know
  EXPECT_EQ(check_binary_batch(with_header("", "edge-a", 1), 10).error, "batch_id must not be empty");
  EXPECT_EQ(check_binary_batch(with_header("bat_1", "e d", 1), 10).error,
            "edge_id must be at most 128 characters of [A-Za-z0-9._:-]");
  EXPECT_EQ(check_binary_batch(with_header(std::string(200, 'b'), "edge-a", 1), 10).error,
            "batch_id must be at most 128 characters of [A-Za-z0-9._:-]");
  EXPECT_EQ(check_binary_batch(with_header("bat_1", "edge-a", 0), 10).error, "events must not be empty");
  // A huge count is refused before anything is read or sized by it.
  EXPECT_EQ(check_binary_batch(with_header("bat_1", "edge-a", 0xffffffff), 10).error,
            "events has 4294967295 entries; at most 10 are accepted per batch");
  std::string body = encode_batch_binary("bat_1", events(11));
  EXPECT_EQ(check_binary_batch(body, 10).error, "events has 11 entries; at most 10 are accepted per batch");
  EXPECT_TRUE(check_binary_batch(body, 11).ok());
}

TEST(TelemetryBinary, RefusesEveryTruncationAndTrailingBytes) {
  const std::string body = encode_batch_binary("bat_1", events(3));
  ASSERT_TRUE(check_binary_batch(body, 10).ok());
  // Every strict prefix is refused (the count promises more than the body holds).
  for (size_t n = 0; n < body.size(); ++n) {
    auto r = check_binary_batch(std::string_view(body).substr(0, n), 10);
    EXPECT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.rows.count, 0u);
  }
  auto cut = check_binary_batch(std::string_view(body).substr(0, body.size() - 1), 10);
  EXPECT_EQ(cut.error, "body is truncated or malformed at events[2].media_seconds");
  auto more = check_binary_batch(body + "xy", 10);
  EXPECT_EQ(more.error, "body has 2 bytes after the last of its 3 events");
  // A declared string length far beyond the body: refused, nothing sized by it.
  std::string huge(kBinaryMagic);
  store::put_packed_string(huge, "bat_1");
  store::put_packed_string(huge, "edge-a");
  store::put_packed_fixed(huge, uint32_t(1));
  huge += "\xff\xff\xff\xff\x0f";  // event_id length 2^32-1
  EXPECT_EQ(check_binary_batch(huge, 10).error, "body is truncated or malformed at events[0].event_id");
  huge += std::string(20, '\xff');  // an unterminated LEB128 length
  EXPECT_FALSE(check_binary_batch(huge, 10).ok());
}

TEST(TelemetryBinary, RefusesNonFiniteNumbersWrittenByHand) {
  std::string body = encode_batch_binary("bat_1", events(1));
  double nan = std::nan("");
  std::memcpy(body.data() + body.size() - 8, &nan, 8);  // media_seconds is the row's last field
  EXPECT_EQ(check_binary_batch(body, 10).error, "events[0].media_seconds must be between 0 and 86400");
}

}  // namespace
}  // namespace rend::telemetry
