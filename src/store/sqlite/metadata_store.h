#pragma once
// MetadataStore on one SQLite file (the embedded default, DATABASE_URL=sqlite://PATH).
//
// One connection per instance, serialized by a mutex. Several processes (API, worker)
// may open the same file: WAL lets readers proceed during a write, and every
// read-modify-write runs in a BEGIN IMMEDIATE transaction, so the file lock (not the
// mutex) is what keeps two processes from claiming the same job.
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "store/metadata.h"

namespace rend::store::sqlite {

class Db;
class Stmt;

class SqliteMetadataStore final : public MetadataStore {
 public:
  // A claim that would be the job's 6th is refused and the job failed: a job that
  // keeps killing its worker (or outliving its lock) must not loop forever.
  static constexpr int kMaxJobAttempts = 5;

  explicit SqliteMetadataStore(const std::string& path);
  ~SqliteMetadataStore() override;

  // One override per MetadataStore method (metadata.h). The Postgres store
  // (postgres/metadata_store.cpp) declares the same list: a deliberate pair, two
  // implementations of one interface.
  void migrate() override;
  bool healthy() override;

  void create_account(const Account& account) override;
  std::optional<Account> get_account(const std::string& id) override;
  std::vector<Account> list_accounts() override;
  void create_api_key(const ApiKey& key) override;
  std::optional<ApiKey> find_api_key_by_hash(const std::string& secret_hash) override;
  std::vector<ApiKey> list_api_keys(const std::optional<std::string>& account_id) override;
  bool revoke_api_key(const std::string& id, int64_t now_ms) override;

  void create_upload(const Asset& asset, const Upload& upload) override;
  std::optional<Upload> get_upload(const std::string& upload_id) override;
  std::optional<Asset> get_asset(const std::string& id) override;
  ListPage list_assets(const std::string& account_id, int limit, const std::optional<std::string>& cursor,
                       bool include_deleted) override;
  std::string complete_upload(const std::string& upload_id, int64_t source_bytes, int64_t now_ms) override;
  std::string create_import(const Asset& asset) override;
  bool mark_source_stored(const std::string& asset_id, int64_t source_bytes, int64_t now_ms) override;
  bool set_asset_name(const std::string& asset_id, const std::optional<std::string>& name) override;
  bool set_source_filename(const std::string& asset_id, const std::string& filename) override;

  bool mark_processing(const std::string& asset_id, int64_t now_ms) override;
  bool set_progress(const std::string& asset_id, double fraction) override;
  bool set_source_info(const std::string& asset_id, double duration_s, int width, int height) override;
  bool mark_playable(const std::string& asset_id, const std::vector<Tier>& tiers, const std::string& billing_tier,
                     int64_t now_ms) override;
  bool mark_hls_ready(const std::string& asset_id, const std::vector<Tier>& tiers, const std::string& billing_tier,
                      int64_t now_ms) override;
  bool mark_failed(const std::string& asset_id, const std::string& code, const std::string& message,
                   int64_t now_ms) override;
  bool mark_deleted(const std::string& asset_id, int64_t now_ms) override;
  std::vector<StoredMinutes> stored_minutes() override;

  std::optional<Job> claim_job(const std::string& worker_id, int64_t lock_timeout_ms, int64_t now_ms) override;
  bool heartbeat_job(const std::string& job_id, const std::string& worker_id, int64_t lock_timeout_ms,
                     int64_t now_ms) override;
  bool release_job(const std::string& job_id, const std::string& worker_id) override;
  void complete_job(const std::string& job_id, const std::string& worker_id, int64_t now_ms) override;
  void fail_job(const std::string& job_id, const std::string& worker_id, const std::string& reason,
                int64_t now_ms) override;
  int64_t pending_job_count() override;
  bool claim_upload(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                    int64_t lease_ms) override;
  bool renew_upload_claim(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                          int64_t lease_ms) override;
  void release_upload_claim(const std::string& upload_id, const std::string& claim_id) override;
  bool save_upload_progress(const std::string& upload_id, const std::string& claim_id,
                            const UploadProgress& progress) override;
  bool start_resumable_upload(const std::string& upload_id, int64_t length, const std::string& handle,
                              int64_t expires_at_ms) override;
  std::vector<Upload> expired_uploads(int64_t now_ms, int limit) override;
  bool end_upload(const std::string& upload_id, const std::string& claim_id, const std::string& status,
                  int64_t now_ms) override;
  EdgeHeartbeat heartbeat_edge(const EdgeNode& edge, int64_t fresh_since_ms, uint64_t max_edges) override;
  std::vector<EdgeNode> list_edges() override;

  void create_webhook(const Webhook& webhook) override;
  std::optional<Webhook> get_webhook(const std::string& id) override;
  std::vector<Webhook> list_webhooks(const std::string& account_id) override;
  bool delete_webhook(const std::string& id) override;
  bool rotate_webhook_secret(const std::string& id, const std::string& new_secret, int64_t previous_until_ms) override;
  bool record_upload_expired(const std::string& upload_id, int64_t now_ms) override;
  std::vector<WebhookDelivery> list_webhook_deliveries(const std::string& webhook_id, int limit) override;
  std::optional<WebhookDelivery> claim_webhook_delivery(const std::string& claimer, int64_t now_ms,
                                                        int64_t lease_ms) override;
  bool finish_webhook_delivery(const std::string& delivery_id, const std::string& claimer,
                               const WebhookAttempt& attempt) override;
  WebhookRetry retry_webhook_delivery(const std::string& webhook_id, const std::string& delivery_id,
                                      int64_t now_ms) override;

 private:
  // Runs "UPDATE assets SET <assignments> WHERE id = ?1" unless the asset is deleted;
  // `bind` binds the assignments' parameters, numbered from ?2. Caller holds mu_.
  bool update_live_asset(const std::string& asset_id, std::string_view assignments,
                         const std::function<void(Stmt&)>& bind);
  // update_live_asset in a transaction that also writes the webhook event
  // `event_type` when the asset's status really changed to `new_status`.
  bool transition(const std::string& asset_id, std::string_view assignments, const std::function<void(Stmt&)>& bind,
                  std::string_view new_status, std::string_view event_type, int64_t now_ms);
  // Writes the event and a pending delivery per webhook of the asset's account that
  // asked for `type`. Caller holds mu_ inside a WriteTx (the status change's).
  void emit_event(const std::string& asset_id, std::string_view type, int64_t now_ms);
  bool publish_ladder(const std::string& asset_id, std::string_view status, std::string_view at_column,
                      const std::vector<Tier>& tiers, const std::string& billing_tier, int64_t now_ms);
  // Ends a claimed job held by worker_id; false when the worker no longer holds it.
  bool finish_job(const std::string& job_id, const std::string& worker_id, std::string_view status,
                  const std::optional<std::string>& error, int64_t now_ms);

  std::mutex mu_;
  std::unique_ptr<Db> db_;
};

}  // namespace rend::store::sqlite
