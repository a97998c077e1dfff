#pragma once
// Encodings shared by every MetadataStore backend, so a cursor or a stored tier list
// means the same thing whichever database is behind DATABASE_URL.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/metadata.h"

namespace rend::store {

// Position in the (created_at_ms desc, id desc) asset order: the last asset returned.
struct AssetCursor {
  int64_t created_at_ms = 0;
  std::string id;
};

// Opaque to clients (base64url of "ms:id"), so the encoding may change later.
std::string encode_asset_cursor(const AssetCursor& c);
// Throws std::invalid_argument on anything encode_asset_cursor could not have produced.
AssetCursor decode_asset_cursor(std::string_view cursor);

// JSON arrays as stored in text/jsonb columns. Decoding throws StoreError on bad data.
std::string tiers_to_json(const std::vector<Tier>& tiers);
std::vector<Tier> tiers_from_json(std::string_view json);
std::string strings_to_json(const std::vector<std::string>& values);
std::vector<std::string> strings_from_json(std::string_view json);
std::string chunks_to_json(const std::vector<UploadChunk>& chunks);
std::vector<UploadChunk> chunks_from_json(std::string_view json);

// The columns every backend selects an asset with, in the order asset_from_row reads.
inline constexpr std::string_view kAssetColumns =
    "id, status, visibility, owner_key_id, duration_s, width, height, tiers, billing_tier, error_code, "
    "error_message, created_at_ms, uploaded_at_ms, processing_at_ms, playable_at_ms, hls_ready_at_ms, "
    "failed_at_ms, deleted_at_ms, expected_bytes, source_bytes, progress, account_id, input_url, name, source_filename";

// One asset from a result row of kAssetColumns. Row is the backend's row reader, by
// 0-based column: text, int64, opt_text, opt_int64, opt_real (sqlite::Stmt,
// postgres::Result::RowView).
// One line per column below: a field list, not repeated logic.
template <class Row>
Asset asset_from_row(const Row& r) {
  auto opt_int = [&](int col) {
    auto v = r.opt_int64(col);
    return v ? std::optional<int>(int(*v)) : std::nullopt;
  };
  Asset a;
  a.id = r.text(0);
  a.status = r.text(1);
  a.visibility = r.text(2);
  a.owner_key_id = r.text(3);
  a.duration_s = r.opt_real(4);
  a.width = opt_int(5);
  a.height = opt_int(6);
  a.tiers = tiers_from_json(r.text(7));
  a.billing_tier = r.text(8);
  a.error_code = r.opt_text(9);
  a.error_message = r.opt_text(10);
  a.created_at_ms = r.int64(11);
  a.uploaded_at_ms = r.opt_int64(12);
  a.processing_at_ms = r.opt_int64(13);
  a.playable_at_ms = r.opt_int64(14);
  a.hls_ready_at_ms = r.opt_int64(15);
  a.failed_at_ms = r.opt_int64(16);
  a.deleted_at_ms = r.opt_int64(17);
  a.expected_bytes = r.opt_int64(18);
  a.source_bytes = r.opt_int64(19);
  a.progress = r.opt_real(20);
  a.account_id = r.text(21);
  a.input_url = r.opt_text(22);
  a.name = r.opt_text(23);
  a.source_filename = r.opt_text(24);
  return a;
}

// The columns every backend selects an API key with (never the hash), in the order
// key_from_row reads.
inline constexpr std::string_view kKeyColumns = "id, name, scopes, created_at_ms, revoked_at_ms, account_id";

template <class Row>
ApiKey key_from_row(const Row& r) {
  ApiKey k;
  k.id = r.text(0);
  k.name = r.text(1);
  k.scopes = strings_from_json(r.text(2));
  k.created_at_ms = r.int64(3);
  k.revoked_at_ms = r.opt_int64(4);
  k.account_id = r.text(5);
  return k;
}

// Webhooks: the event list as stored, ",asset.created,asset.ready,", so a backend
// matches one type with a substring test on ",type," (no JSON operators needed).
std::string webhook_events_to_column(const std::vector<std::string>& events);
std::vector<std::string> webhook_events_from_column(std::string_view column);

inline constexpr std::string_view kWebhookColumns =
    "id, account_id, url, events, secret, previous_secret, previous_secret_until_ms, created_at_ms";

template <class Row>
Webhook webhook_from_row(const Row& r) {
  Webhook w;
  w.id = r.text(0);
  w.account_id = r.text(1);
  w.url = r.text(2);
  w.events = webhook_events_from_column(r.text(3));
  w.secret = r.text(4);
  w.previous_secret = r.opt_text(5);
  w.previous_secret_until_ms = r.int64(6);
  w.created_at_ms = r.int64(7);
  return w;
}

inline constexpr std::string_view kDeliveryColumns =
    "id, webhook_id, event_id, event_type, account_id, asset_id, event_created_at_ms, status, attempts, "
    "last_status_code, last_latency_ms, last_error, last_attempt_at_ms, next_attempt_at_ms";

template <class Row>
WebhookDelivery delivery_from_row(const Row& r) {
  WebhookDelivery d;
  d.id = r.text(0);
  d.webhook_id = r.text(1);
  d.event_id = r.text(2);
  d.event_type = r.text(3);
  d.account_id = r.text(4);
  d.asset_id = r.text(5);
  d.event_created_at_ms = r.int64(6);
  d.status = r.text(7);
  d.attempts = int(r.int64(8));
  d.last_status_code = r.opt_int64(9);
  d.last_latency_ms = r.opt_int64(10);
  d.last_error = r.opt_text(11);
  d.last_attempt_at_ms = r.opt_int64(12);
  d.next_attempt_at_ms = r.int64(13);
  return d;
}

// The columns every backend selects an upload with, in the order upload_from_row reads.
inline constexpr std::string_view kUploadColumns =
    "id, asset_id, expected_bytes, status, created_at_ms, protocol, expires_at_ms, multipart_handle, upload_offset, "
    "parts, tail, direct_origin";

template <class Row>
Upload upload_from_row(const Row& r) {
  Upload u;
  u.id = r.text(0);
  u.asset_id = r.text(1);
  u.expected_bytes = r.opt_int64(2);
  u.status = r.text(3);
  u.created_at_ms = r.int64(4);
  u.protocol = r.text(5);
  u.expires_at_ms = r.opt_int64(6);
  u.multipart_handle = r.text(7);
  u.progress.offset = r.int64(8);
  u.progress.parts = chunks_from_json(r.text(9));
  u.progress.tail = chunks_from_json(r.text(10));
  u.direct_origin = r.text(11);
  return u;
}

}  // namespace rend::store
