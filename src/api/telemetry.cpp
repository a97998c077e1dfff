// Telemetry ingest (SPEC §7): edges POST batches of playback events to
// /internal/telemetry with the bearer REND_INTERNAL_TELEMETRY_TOKEN.
//
// Contract with the edge's sender:
//   200 {"batch_id":…,"accepted":N}  every event of the batch is durably stored (or
//        was already: replays are deduplicated by event_id); the edge may drop its copy.
//        With ClickHouse "stored" means in the API's journal ({data_dir}/telemetry-journal,
//        fdatasync'd), from which it is inserted within about a second, after a crash
//        on the next start (telemetry/ingest_buffer.h); the analytics routes wait for
//        those inserts, so a read after a 200 counts the batch.
//   400 invalid_batch   the batch can never be accepted; nothing of it was stored.
//   401                 wrong or missing token.
//   413                 larger than REND_TELEMETRY_MAX_BATCH_BYTES (the server refuses
//                       it before the handler runs).
//   503 (Retry-After)   telemetry_disabled (no token configured), telemetry_busy (too
//                       many ingest requests at once, or the journal is being replayed)
//                       or analytics_unavailable (the insert failed, or the store's last
//                       insert did): keep the batch and retry later.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <memory>

#include "api/common.h"
#include "auth/api_keys.h"
#include "core/log.h"
#include "core/strings.h"
#include "telemetry/ingest_buffer.h"
#include "telemetry/wire.h"

namespace rend::api {
namespace {

// Ingest requests that may hold a handler thread at once: half of the server's pool of
// 16 (http/server.h), as uploads, so customers' requests always find a thread. Each
// holds its thread while its batch is decoded and until its flush (a journal append,
// or with the embedded store its insert) is done: a few ms.
constexpr size_t kMaxConcurrentIngest = 8;
// How long an analytics read waits for the events ingest answered to be inserted;
// beyond it (ClickHouse slow or away) the read answers with what is stored.
constexpr std::chrono::seconds kSyncTimeout{10};
// Rows per batch; the byte limit bounds the body, this bounds what one batch inserts
// (8 MiB of the smallest valid events is about 40k).
constexpr size_t kMaxEventsPerBatch = 100000;

http::Response unavailable(std::string_view code, std::string_view message, int retry_after_secs) {
  auto r = http::Response::error(503, code, message);
  r.headers.set("Retry-After", std::to_string(retry_after_secs));
  return r;
}

http::Response refused(const http::Request& req, const std::string& error) {
  // The error names a field, never a value, so it is safe to log.
  core::log::warn("telemetry_batch_refused", {{"error", error}, {"bytes", uint64_t(req.body.size())}});
  return http::Response::error(400, "invalid_batch", error);
}

http::Response accepted(std::string_view batch_id, size_t n) {
  // Written by hand: the answer to every batch, and batch_id is [A-Za-z0-9._:-] only.
  std::string body = "{\"batch_id\":\"";
  body += batch_id;
  body += "\",\"accepted\":";
  body += std::to_string(n);
  body += '}';
  return http::Response::json(200, std::move(body));
}

http::Response ingest(const ApiDeps& d, telemetry::IngestBuffer& buffer, http::Request& req) {
  const auto& token = d.cfg.telemetry.token;
  if (token.empty())
    return unavailable("telemetry_disabled", "telemetry ingest is off: REND_INTERNAL_TELEMETRY_TOKEN is not set", 60);
  auto h = req.header("authorization");
  if (!h || !auth::internal_token_matches(*h, token))
    return http::Response::error(401, "unauthorized", "telemetry token required: Authorization: Bearer <token>");

  // Admission before decoding: a refused request should cost nothing.
  auto ticket = buffer.admit();
  if (!ticket) return unavailable("telemetry_busy", "too many telemetry batches in flight; retry shortly", 1);

  // The format is the Content-Type's (parameters such as charset ignored): binary v1
  // from current edges, JSON otherwise (older edges, hand-written requests).
  std::string_view ct = req.header("content-type").value_or("");
  ct = core::trim_ows(ct.substr(0, ct.find(';')));
  // Media types compare case-insensitively (RFC 9110 8.3.1).
  const bool binary =
      std::equal(ct.begin(), ct.end(), telemetry::kBinaryContentType.begin(), telemetry::kBinaryContentType.end(),
                 [](char a, char b) { return std::tolower(uint8_t(a)) == b; });
  if (binary) {
    // Checked in place: the rows stay in the body, which is what gets journaled and,
    // with ClickHouse, sent in the insert (no event objects on this path).
    auto batch = telemetry::check_binary_batch(req.body, kMaxEventsPerBatch);
    if (!batch.ok()) return refused(req, batch.error);
    if (!buffer.submit(*ticket, batch.rows, req.body))
      return unavailable("analytics_unavailable", "the analytics store did not accept the batch; retry later", 5);
    return accepted(batch.batch_id, batch.rows.count);
  }
  if (telemetry::is_binary_batch(req.body))
    return refused(req, "a binary batch needs Content-Type " + std::string(telemetry::kBinaryContentType));
  auto batch = telemetry::decode_batch(req.body, kMaxEventsPerBatch);
  if (!batch.ok()) return refused(req, batch.error);
  size_t n = batch.events.size();
  if (!buffer.submit(*ticket, std::move(batch.events), req.body))
    return unavailable("analytics_unavailable", "the analytics store did not accept the batch; retry later", 5);
  return accepted(batch.batch_id, n);
}

}  // namespace

std::function<void()> add_telemetry_routes(http::Router& r, const ApiDeps& d) {
  telemetry::IngestBuffer::Options o{.max_admitted = kMaxConcurrentIngest};
  // Without a journal the store is the embedded SQLite one (`rend dev`, small installs):
  // a transaction there costs little, so a flush starts as soon as nothing more is on
  // its way, and batches that arrive during an insert still share the next one. Spacing
  // flushes 50 ms apart capped one edge (one batch in flight) at 20 batches a second,
  // below what a single edge serves, so its telemetry fell behind into the spool.
  o.min_interval = std::chrono::milliseconds(0);
  if (!d.cfg.telemetry.journal_dir.empty()) {
    // A flush is a journal append (one fdatasync), not an insert: group whatever is
    // waiting at once instead of spacing flushes out (ClickHouse gets large inserts
    // from the journal anyway).
    o.journal_dir = d.cfg.telemetry.journal_dir;
    o.min_interval = std::chrono::milliseconds(0);
    o.max_delay = std::chrono::milliseconds(10);
    // When edges pause, what they sent need not wait out insert_delay.
    o.quiet_delay = std::chrono::milliseconds(20);
    // Measured on ClickHouse 18.16: 300k rows cost it ~0.5 CPU-s in one insert, ~0.6 in
    // inserts of 50k, ~1.5 in inserts of 8k (bench/README.md); starting at 50k keeps it
    // busy early in a burst, and inserts grow while one is in progress.
    o.insert_events = 50000;
    // 100k+ waiting (a burst): two concurrent inserts, one per ClickHouse core here.
    o.parallel_inserts = 2;
  }
  // Owned by the handler, so by the router: the flusher stops (after writing what is
  // pending) when the server that holds the router is destroyed.
  auto buffer = std::make_shared<telemetry::IngestBuffer>(d.analytics, std::move(o), d.clock);
  http::RouteOptions opts;
  // 0 only in a hand-built config (tests); telemetry::parse_ingest always sets the 8 MiB default.
  opts.max_body_bytes = d.cfg.telemetry.max_batch_bytes ? d.cfg.telemetry.max_batch_bytes : 8ull << 20;
  // A wrong token is refused before the batch is read (an unset token: the handler's 503).
  opts.before_body = [&d](const http::Request& q) -> std::optional<http::Response> {
    const auto& token = d.cfg.telemetry.token;
    auto h = q.header("authorization");
    if (!token.empty() && !(h && auth::internal_token_matches(*h, token)))
      return http::Response::error(401, "unauthorized", "telemetry token required: Authorization: Bearer <token>");
    return std::nullopt;
  };
  r.add(
      "POST", "/internal/telemetry", [&d, buffer](http::Request& q) { return ingest(d, *buffer, q); }, opts);
  // A weak reference: the route owns the buffer.
  return [weak = std::weak_ptr<telemetry::IngestBuffer>(buffer)] {
    if (auto b = weak.lock()) b->sync(kSyncTimeout);
  };
}

}  // namespace rend::api
