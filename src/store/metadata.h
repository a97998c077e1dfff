#pragma once
// Metadata store: accounts, API keys, assets, uploads, the media job queue.
//
// An account (the customer, billed as one) owns API keys and assets: any of its
// unrevoked keys sees and manages all of its assets, so revoking or rotating the key
// that uploaded an asset loses nothing.
//
// Implementations: sqlite/ (embedded default, DATABASE_URL=sqlite://PATH) and
// postgres/ (DATABASE_URL=postgres://...). One contract suite (metadata_contract_test.cpp)
// runs against each.
//
// Asset lifecycle (SPEC §4), every transition timestamped (unix ms):
//   waiting_upload -> queued -> processing -> playable -> hls_ready
//                         \-> failed (reason)        any -> deleted
//
// Job lifecycle: enqueue -> claim (locked_until = now + lock timeout) -> complete | fail.
// A claimed job whose lock has expired (its worker died) can be claimed again; claim
// is a single transaction, so two workers never hold the same job at once. A worker
// extends its lock while working (heartbeat_job).
//
// Thread-safety: all methods may be called concurrently from any thread.
// Errors: std::runtime_error (StoreError) on a storage failure.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rend::store {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Account {
  std::string id;  // "acc_..." (public; also the billing customer id)
  std::string name;
  int64_t created_at_ms = 0;
};

struct ApiKey {
  std::string id;  // "key_..." (public, appears in logs)
  std::string name;
  std::string secret_hash;          // sha256 hex of the full secret; the secret itself is never stored
  std::vector<std::string> scopes;  // upload, read, delete, analytics
  int64_t created_at_ms = 0;
  std::optional<int64_t> revoked_at_ms;
  std::string account_id;  // the account it acts for
};

// One rendition of the ladder as published, e.g. {"720p", 1280, 720, 2800000}.
struct Tier {
  std::string name;
  int width = 0;
  int height = 0;
  int64_t bandwidth = 0;
};

struct Asset {
  std::string id;
  std::string status;        // see lifecycle above
  std::string visibility;    // public | private
  std::string account_id;    // the owner
  std::string owner_key_id;  // the key that uploaded it ("uploaded by"); may since be revoked
  std::optional<double> duration_s;
  std::optional<int> width, height;
  std::vector<Tier> tiers;
  std::string billing_tier;                  // e.g. "720p", "1080p", "2k", "4k"; empty until known
  std::optional<std::string> error_code;     // not_a_video, corrupt_input, ...
  std::optional<std::string> error_message;  // human-readable, never secrets
  int64_t created_at_ms = 0;
  std::optional<int64_t> uploaded_at_ms, processing_at_ms, playable_at_ms, hls_ready_at_ms, failed_at_ms, deleted_at_ms;
  std::optional<int64_t> expected_bytes;
  std::optional<int64_t> source_bytes;
  std::optional<double> progress;  // 0..1 while processing; 1 once hls_ready
  // Imports from a URL (POST /v1/assets {input_url}): where the worker fetches the
  // source. May carry a signed query (an S3 presigned URL): never logged or returned.
  std::optional<std::string> input_url;
  // What the customer calls it and the file it came from (issue 13): shown back,
  // never used as a path. The API validates both (≤ 256 bytes of UTF-8, no control
  // characters); stores keep them as given.
  std::optional<std::string> name;
  std::optional<std::string> source_filename;
};

// A piece of a resumable upload as stored: a part of the object store's multipart
// write (ref = its ETag) or a short chunk buffered until a part is full (ref = the
// object key it is buffered under).
struct UploadChunk {
  int64_t size = 0;
  std::string ref;
  friend bool operator==(const UploadChunk&, const UploadChunk&) = default;
};

// Where a resumable (tus) upload stands: the bytes acknowledged to the client are
// exactly parts + tail, so offset == sum of both sizes.
struct UploadProgress {
  int64_t offset = 0;
  std::vector<UploadChunk> parts;  // in part-number order
  std::vector<UploadChunk> tail;   // in byte order, after the parts
};

struct Upload {
  std::string id;  // "upl_..."
  std::string asset_id;
  std::optional<int64_t> expected_bytes;  // tus: Upload-Length
  std::string status;                     // pending | complete | expired | terminated
  int64_t created_at_ms = 0;
  // Resumable uploads (protocol "tus"); a PUT upload ("put") keeps the defaults.
  std::string protocol = "put";
  std::optional<int64_t> expires_at_ms;  // a pending upload past it is expired
  std::string multipart_handle;          // the object store's multipart handle
  UploadProgress progress;
  // A direct upload (a signed URL used without the API key): the only browser origin
  // it may be used from. Empty for uploads made with the key.
  std::string direct_origin;
};

struct Job {
  std::string id;  // "job_..."
  std::string asset_id;
  std::string kind;  // "transcode"
  int attempts = 0;  // including the current claim
  std::string locked_by;
  int64_t locked_until_ms = 0;
};

// An edge as it last reported itself (SPEC §6: registration and heartbeat).
struct EdgeNode {
  std::string edge_id;
  std::string region;
  std::string base_url;
  std::string version;
  int64_t registered_at_ms = 0;  // first heartbeat; kept by later ones
  int64_t last_heartbeat_at_ms = 0;
  int64_t cache_bytes = 0;
  int64_t cache_objects = 0;
};

// What a checked edge heartbeat did (MetadataStore::heartbeat_edge).
enum class EdgeHeartbeat {
  recorded,       // a new edge, or a known one refreshed with the same region and URL
  taken_over,     // a stale record of that id now has the new region and URL
  conflict,       // a fresh record of that id has another region or URL: nothing changed
  registry_full,  // a new id while max_edges fresh ids are known: nothing changed
};

struct ListPage {
  std::vector<Asset> assets;
  std::optional<std::string> next_cursor;  // opaque; pass back to continue
};

// Minutes of video an account holds in one billing tier (the usage sync's stored minutes).
struct StoredMinutes {
  std::string account_id;
  std::string billing_tier;
  double minutes = 0;  // sum of duration_s / 60; unrounded
};

// ---- Webhooks (issue 16; docs/webhooks.md) ----
// The event types a webhook can ask for. upload.expired is written by end_upload
// (the tus sweeper) with the asset.failed it causes, or by record_upload_expired.
inline const std::vector<std::string>& webhook_event_types() {
  static const std::vector<std::string> types = {"asset.created", "asset.uploaded", "asset.playable", "asset.ready",
                                                 "asset.failed",  "asset.deleted",  "upload.expired"};
  return types;
}

struct Webhook {
  std::string id;  // "whk_..."
  std::string account_id;
  std::string url;
  std::vector<std::string> events;  // a subset of webhook_event_types(), never empty
  // Stored in clear: the dispatcher needs it to sign. Never logged or listed.
  std::string secret;
  // After a rotation the previous secret also signs until previous_secret_until_ms.
  std::optional<std::string> previous_secret;
  int64_t previous_secret_until_ms = 0;
  int64_t created_at_ms = 0;
};

// One event to one webhook. The event fields are copied into the row so a claim
// is one statement (no join under the row lock).
struct WebhookDelivery {
  std::string id;  // "dlv_..."
  std::string webhook_id;
  std::string event_id;  // "evt_..."; shared by the deliveries of one event
  std::string event_type;
  std::string account_id;
  std::string asset_id;
  int64_t event_created_at_ms = 0;
  std::string status = "pending";           // pending | delivered | failed
  int attempts = 0;                         // finished attempts
  std::optional<int64_t> last_status_code;  // HTTP status of the last attempt; absent: none or no answer
  std::optional<int64_t> last_latency_ms;
  std::optional<std::string> last_error;  // e.g. timeout, outbound_refused, http_500
  std::optional<int64_t> last_attempt_at_ms;
  int64_t next_attempt_at_ms = 0;  // when pending: not before
};

// How one attempt ended (finish_webhook_delivery).
struct WebhookAttempt {
  std::string status;  // pending (retry at next_attempt_at_ms) | delivered | failed
  std::optional<int64_t> status_code;
  std::optional<int64_t> latency_ms;
  std::optional<std::string> error;
  int64_t attempted_at_ms = 0;
  int64_t next_attempt_at_ms = 0;
};

enum class WebhookRetry { queued, not_found, in_flight };

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Creates tables if needed (forward-only, versioned). Safe to call on every start.
  virtual void migrate() = 0;
  virtual bool healthy() = 0;

  // Accounts. create_account throws StoreError on a duplicate id.
  virtual void create_account(const Account& account) = 0;
  virtual std::optional<Account> get_account(const std::string& id) = 0;
  // Oldest first (created_at, id).
  virtual std::vector<Account> list_accounts() = 0;

  // API keys. create_api_key throws StoreError when key.account_id names no account
  // (nothing is created) or the id or hash is taken.
  virtual void create_api_key(const ApiKey& key) = 0;
  virtual std::optional<ApiKey> find_api_key_by_hash(const std::string& secret_hash) = 0;
  // Every key (of one account, when given), oldest first (created_at, id), revoked
  // ones included. secret_hash is left empty: listings never carry it.
  virtual std::vector<ApiKey> list_api_keys(const std::optional<std::string>& account_id) = 0;
  virtual bool revoke_api_key(const std::string& id, int64_t now_ms) = 0;

  // Assets and uploads. create_upload inserts the asset (waiting_upload) and the
  // upload in one transaction; asset.account_id must name an account (StoreError).
  virtual void create_upload(const Asset& asset, const Upload& upload) = 0;
  virtual std::optional<Upload> get_upload(const std::string& upload_id) = 0;
  virtual std::optional<Asset> get_asset(const std::string& id) = 0;
  // The account's assets, newest first (created_at desc, id desc). Deleted assets are
  // included only when include_deleted. limit is clamped to [1, 100].
  virtual ListPage list_assets(const std::string& account_id, int limit, const std::optional<std::string>& cursor,
                               bool include_deleted) = 0;

  // Marks the upload complete, the asset queued (uploaded_at = now, source_bytes) and
  // enqueues a transcode job, in one transaction. Returns the job id. Throws
  // StoreError if the upload is not pending.
  virtual std::string complete_upload(const std::string& upload_id, int64_t source_bytes, int64_t now_ms) = 0;

  // Imports from a URL: inserts the asset `queued` with its input_url and enqueues a
  // transcode job, in one transaction; returns the job id. The worker fetches the
  // source first, then records it with mark_source_stored. asset.account_id must name
  // an account (StoreError, nothing created).
  virtual std::string create_import(const Asset& asset) = 0;
  // The fetched source is stored: uploaded_at = now, source_bytes, and input_url is
  // cleared (a presigned URL is a credential, kept no longer than needed). False when
  // the asset is missing or deleted.
  virtual bool mark_source_stored(const std::string& asset_id, int64_t source_bytes, int64_t now_ms) = 0;

  // Names (create_upload and create_import store asset.name and .source_filename as
  // given). set_asset_name renames (nullopt clears the name); set_source_filename
  // records the file an upload came from. False when the asset is missing or deleted.
  virtual bool set_asset_name(const std::string& asset_id, const std::optional<std::string>& name) = 0;
  virtual bool set_source_filename(const std::string& asset_id, const std::string& filename) = 0;

  // Receiving claims: one PUT at a time reads an upload's body. claim_upload takes
  // a pending upload for `claim_id` until now_ms + lease_ms, atomically; false when
  // the upload is missing or not pending, or another claim holds it unexpired.
  virtual bool claim_upload(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                            int64_t lease_ms) = 0;
  // Extends the claim while the body streams; false when `claim_id` no longer holds
  // it (expired and taken by another PUT, or the upload completed).
  virtual bool renew_upload_claim(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                                  int64_t lease_ms) = 0;
  // Gives the claim back after a failed PUT, so a retry is accepted at once. No-op
  // unless `claim_id` holds it.
  virtual void release_upload_claim(const std::string& upload_id, const std::string& claim_id) = 0;

  // Resumable uploads. The writes below need `claim_id` to hold the upload's receiving
  // claim (the same lease a PUT takes), so two requests never move one upload at once.
  // Records how far a pending upload has got; false when the claim is not held.
  virtual bool save_upload_progress(const std::string& upload_id, const std::string& claim_id,
                                    const UploadProgress& progress) = 0;
  // Turns a pending, untouched PUT upload (a direct upload's slot) into a resumable one
  // of `length` bytes: protocol "tus", the multipart handle, the expiry. False when
  // the upload is not pending, is already resumable or has been claimed.
  virtual bool start_resumable_upload(const std::string& upload_id, int64_t length, const std::string& handle,
                                      int64_t expires_at_ms) = 0;
  // Pending uploads with an expiry before now_ms, oldest expiry first, at most `limit`.
  virtual std::vector<Upload> expired_uploads(int64_t now_ms, int limit) = 0;
  // Ends a pending upload held by claim_id, in one transaction: `expired` (its asset
  // fails with upload_expired) or `terminated` (its asset is deleted), with their
  // webhook events (upload.expired + asset.failed, asset.deleted). False when the
  // claim is not held or the upload is not pending; StoreError on another status.
  virtual bool end_upload(const std::string& upload_id, const std::string& claim_id, const std::string& status,
                          int64_t now_ms) = 0;

  // Status transitions. Each sets the matching *_at_ms = now_ms. They never move an
  // asset out of `deleted`; they return false when the asset is missing or deleted.
  virtual bool mark_processing(const std::string& asset_id, int64_t now_ms) = 0;
  // mark_playable / mark_hls_ready keep the first timestamp when repeated (a job
  // re-run after its worker died).
  // Transcode progress, 0..1 (mark_hls_ready sets 1). False when missing/deleted.
  virtual bool set_progress(const std::string& asset_id, double fraction) = 0;
  // Stores probe results (duration, width, height) at any time.
  virtual bool set_source_info(const std::string& asset_id, double duration_s, int width, int height) = 0;
  virtual bool mark_playable(const std::string& asset_id, const std::vector<Tier>& tiers,
                             const std::string& billing_tier, int64_t now_ms) = 0;
  virtual bool mark_hls_ready(const std::string& asset_id, const std::vector<Tier>& tiers,
                              const std::string& billing_tier, int64_t now_ms) = 0;
  virtual bool mark_failed(const std::string& asset_id, const std::string& code, const std::string& message,
                           int64_t now_ms) = 0;
  virtual bool mark_deleted(const std::string& asset_id, int64_t now_ms) = 0;
  // Per (account, billing tier), sorted by both: the summed durations in minutes of the
  // assets held now, i.e. playable or hls_ready (so not deleted) with a known duration
  // and tier. Accounts holding nothing are absent. What billing sends as stored usage.
  virtual std::vector<StoredMinutes> stored_minutes() = 0;

  // Job queue.
  virtual std::optional<Job> claim_job(const std::string& worker_id, int64_t lock_timeout_ms, int64_t now_ms) = 0;
  // Extends the lock; false if this worker no longer holds it.
  virtual bool heartbeat_job(const std::string& job_id, const std::string& worker_id, int64_t lock_timeout_ms,
                             int64_t now_ms) = 0;
  virtual void complete_job(const std::string& job_id, const std::string& worker_id, int64_t now_ms) = 0;
  // Hands a claimed job back (graceful worker shutdown): it is queued again at
  // once, and this claim does not count as an attempt. False if not the holder.
  virtual bool release_job(const std::string& job_id, const std::string& worker_id) = 0;
  // Terminal failure (the worker decided; no retry).
  virtual void fail_job(const std::string& job_id, const std::string& worker_id, const std::string& reason,
                        int64_t now_ms) = 0;
  // Jobs that are queued or claimed (for tests and /readyz detail).
  virtual int64_t pending_job_count() = 0;

  // Edge registry. The only write is this heartbeat, checked in one transaction so
  // two edges racing for one id cannot both win. It inserts the edge or updates
  // everything but registered_at_ms (set to last_heartbeat_at_ms on insert). A record is fresh when its last heartbeat
  // is at or after `fresh_since_ms`. A known id with the same region and base URL is refreshed; with another region or
  // URL it is refused while fresh (`conflict`) and taken over once stale. A new id when `max_edges` ids are known first
  // removes the stale records; if that leaves no room it is refused.
  virtual EdgeHeartbeat heartbeat_edge(const EdgeNode& edge, int64_t fresh_since_ms, uint64_t max_edges) = 0;
  // Every known edge, sorted by edge_id; callers decide freshness.
  virtual std::vector<EdgeNode> list_edges() = 0;

  // Webhooks (docs/webhooks.md). Outbox: create_upload, complete_upload,
  // mark_playable, mark_hls_ready, mark_failed and mark_deleted write the event
  // (asset.created, .uploaded, .playable, .ready, .failed, .deleted) and one
  // pending delivery per webhook of the asset's account that asked for it, in the
  // transaction of the status change, and only when the status really changed.
  // create_webhook throws StoreError when the account is unknown.
  virtual void create_webhook(const Webhook& webhook) = 0;
  virtual std::optional<Webhook> get_webhook(const std::string& id) = 0;
  // The account's webhooks, oldest first.
  virtual std::vector<Webhook> list_webhooks(const std::string& account_id) = 0;
  // Removes the webhook and its deliveries; false when missing.
  virtual bool delete_webhook(const std::string& id) = 0;
  // New secret; the current one becomes the previous one until previous_until_ms.
  virtual bool rotate_webhook_secret(const std::string& id, const std::string& new_secret,
                                     int64_t previous_until_ms) = 0;
  // The hook point for upload.expired (the tus sweeper calls it after it expired the
  // upload); false when the upload is unknown.
  virtual bool record_upload_expired(const std::string& upload_id, int64_t now_ms) = 0;
  // A webhook's deliveries, newest first, at most `limit` (clamped to [1, 100]).
  virtual std::vector<WebhookDelivery> list_webhook_deliveries(const std::string& webhook_id, int limit) = 0;
  // Claims the oldest due pending delivery (next_attempt_at <= now, no unexpired
  // claim) for `claimer` until now + lease_ms, atomically across processes, so no
  // delivery is in flight twice at once while the lease holds.
  virtual std::optional<WebhookDelivery> claim_webhook_delivery(const std::string& claimer, int64_t now_ms,
                                                                int64_t lease_ms) = 0;
  // Records an attempt and releases the claim; false when `claimer` no longer holds it.
  virtual bool finish_webhook_delivery(const std::string& delivery_id, const std::string& claimer,
                                       const WebhookAttempt& attempt) = 0;
  // Makes a delivery of this webhook pending and due now (attempts kept).
  virtual WebhookRetry retry_webhook_delivery(const std::string& webhook_id, const std::string& delivery_id,
                                              int64_t now_ms) = 0;

  // In-process change notices for caches of asset rows (api::AssetCache): every
  // listener is called with an asset's id after a write to that asset's row made
  // through this object is visible to readers (Postgres: committed; SQLite: before
  // the store's lock is released, so no reader sees the old row after it). Writes by
  // other processes are not seen here: a cache bounds those with a TTL. Listeners
  // must be quick and must not call back into the store.
  using AssetListener = std::function<void(const std::string& asset_id)>;
  // Returns a handle for remove_asset_listener (call it before the listener dies).
  int add_asset_listener(AssetListener listener) {
    std::lock_guard lock(listeners_mu_);
    listeners_.emplace_back(++last_listener_, std::move(listener));
    return last_listener_;
  }
  void remove_asset_listener(int handle) {
    std::lock_guard lock(listeners_mu_);
    std::erase_if(listeners_, [&](const auto& l) { return l.first == handle; });
  }

 protected:
  // Backends call this after each write to an asset row (see add_asset_listener).
  void asset_changed(const std::string& asset_id) {
    std::lock_guard lock(listeners_mu_);
    for (const auto& [handle, listener] : listeners_) listener(asset_id);
  }

 private:
  std::mutex listeners_mu_;
  std::vector<std::pair<int, AssetListener>> listeners_;
  int last_listener_ = 0;
};

}  // namespace rend::store
