// The production Sender: POST to REND_EDGE_TELEMETRY_INGEST_URL with libcurl.
#include <memory>
#include <mutex>

#include "core/log.h"
#include "http/client.h"
#include "telemetry/pipeline.h"
#include "telemetry/wire.h"

namespace rend::telemetry {
namespace {

// Permanent refusals: re-sending the same bytes with the same credentials cannot
// succeed, so the batch is dropped instead of retried forever. 429 and 5xx are load or
// outage signals and are retried (via the spool).
bool is_permanent_rejection(long status) {
  return status == 400 || status == 401 || status == 403 || status == 404 || status == 413;
}

// Logs each change of outcome once (the shipper probes every few seconds while the API
// is down; one line per probe would be noise). The URL is not logged: it may carry
// credentials; curl's error strings never include it.
struct OutcomeLog {
  std::mutex mu;
  std::string last = "ok";

  void note(const http::ClientResponse& r) {
    const std::string key = r.ok() ? "ok" : r.status == 0 ? "transport:" + r.error : std::to_string(r.status);
    std::lock_guard lk(mu);
    if (key == last) return;
    last = key;
    if (r.ok()) {
      core::log::info("edge_telemetry_ingest_ok");
    } else if (r.status == 0) {
      core::log::warn("edge_telemetry_ingest_failed", {{"error", r.error}});
    } else {
      core::log::warn("edge_telemetry_ingest_failed", {{"status", int64_t(r.status)}});
    }
  }
};

}  // namespace

Sender http_sender(std::string url, std::string token, std::chrono::milliseconds timeout) {
  auto outcomes = std::make_shared<OutcomeLog>();
  auto auth = std::make_shared<const std::string>("Bearer " + token);
  // One keep-alive connection to the API instead of a new one per batch; the
  // pipeline calls the sender from its shipper thread only, one batch at a time.
  auto client = std::make_shared<http::Client>();
  return [url = std::move(url), auth, timeout, outcomes, client](const std::string& body) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = url;
    // Binary v1 from this edge; a JSON body spooled by an older version is re-sent as
    // JSON (the spool keeps bodies verbatim, so a replay is byte-for-byte the same).
    req.headers = {{"Authorization", *auth}, {"Content-Type", std::string(content_type_of(body))}};
    req.body = body;
    req.timeout = timeout;
    const http::ClientResponse res = client->send(req);
    outcomes->note(res);
    if (res.ok()) return SendResult::ok;
    if (is_permanent_rejection(res.status)) return SendResult::rejected;
    return SendResult::retry;
  };
}

}  // namespace rend::telemetry
