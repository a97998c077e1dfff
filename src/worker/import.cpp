#include "worker/import.h"

#include "http/client.h"

namespace rend::worker {
namespace {

core::Status forbidden(std::string message) { return core::Status::permanent("input_forbidden", std::move(message)); }
core::Status unreachable(std::string message) {
  return core::Status::permanent("input_unreachable", std::move(message));
}

}  // namespace

ImportResult fetch_source(const std::string& url, const std::string& key, store::ObjectStore& objects,
                          const ImportOptions& options, const std::function<bool()>& keep_going) {
  // The API checked the shape already; checked again here because the worker's policy
  // is what applies (production: https only), and the row could predate a change.
  if (auto why = http::check_outbound_url(url, options.policy)) return {forbidden("The input URL is refused: " + *why)};

  std::unique_ptr<store::ObjectWriter> writer;
  try {
    writer = objects.begin_put(key);
  } catch (const std::exception&) {
    return {core::Status::transient("storage_failed", "Storing the imported source failed.")};
  }
  bool storage_error = false, cancelled = false;
  http::ClientRequest req;
  req.url = url;
  req.timeout = options.timeout;
  req.outbound = &options.policy;
  req.max_redirects = options.max_redirects;
  req.max_body_bytes = options.max_bytes;
  if (keep_going)
    req.keep_going = [&] {
      if (!keep_going()) cancelled = true;
      return !cancelled;
    };
  req.on_body = [&](const char* data, size_t n) {
    try {
      writer->write(data, n);
    } catch (const std::exception&) {
      storage_error = true;
      return false;
    }
    return true;
  };
  auto res = http::send(req);
  // Every early return below drops the uncommitted writer: nothing stays stored.
  if (cancelled) return {core::Status::permanent("cancelled", "The import was cancelled.")};
  if (storage_error) return {core::Status::transient("storage_failed", "Storing the imported source failed.")};
  if (res.address_refused)
    return {
        forbidden("The input URL leads to an address imports may not reach (loopback, private, link-local or "
                  "metadata).")};
  if (res.protocol_refused) return {forbidden("The input URL redirects to a scheme other than http(s).")};
  if (res.body_too_large)
    return {core::Status::permanent("input_too_large", "The input is larger than the limit of " +
                                                           std::to_string(options.max_bytes) + " bytes.")};
  if (res.status == 0) return {unreachable("The input URL could not be fetched: " + res.error + ".")};
  if (!res.ok()) return {unreachable("The input URL answered HTTP " + std::to_string(res.status) + ".")};
  try {
    uint64_t bytes = writer->bytes_written();
    writer->commit();
    return {core::Status{}, bytes};
  } catch (const std::exception&) {
    return {core::Status::transient("storage_failed", "Storing the imported source failed.")};
  }
}

}  // namespace rend::worker
