#include "store/postgres/metadata_store.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "store/codec.h"
#include "store/postgres/migrations.h"
#include "store/postgres/pg.h"

namespace rend::store::postgres {

namespace {

// Same limit as the SQLite store: a claim that would be a job's 6th fails the job
// instead, so a job that keeps killing its worker cannot loop forever.
constexpr int kMaxJobAttempts = 5;
constexpr int kMaxPageSize = 100;
constexpr const char* kLostTooOften = "worker lost too many times";
// Enough for an API and a worker's handful of concurrent requests; each connection
// is a server process, so more would cost Postgres memory for little gain.
constexpr size_t kPoolSize = 4;
// pg_advisory_xact_lock key serializing migrate() across processes: "rend" in ASCII.
// Advisory locks are per database, so deployments sharing a server don't contend.
constexpr int64_t kMigrationLockKey = 0x72656e64;
// pg_advisory_xact_lock key serializing checked edge heartbeats ("edge" in ASCII):
// the check (fresh conflict, size bound) and the upsert must not interleave.
constexpr int64_t kEdgeRegistryLockKey = 0x65646765;

std::string select_assets(std::string_view where) {
  return "SELECT " + std::string(kAssetColumns) + " FROM rend.assets WHERE " + std::string(where);
}

// "UPDATE ... WHERE id = $1" unless the asset is deleted (no transition leaves
// `deleted`); the assignments' parameters are numbered from $2.
bool update_live_asset(Connection& c, const std::string& asset_id, std::string_view assignments, Params params) {
  const std::string sql =
      "UPDATE rend.assets SET " + std::string(assignments) + " WHERE id = $1 AND status <> 'deleted'";
  return c.exec(sql, params.prepend(asset_id)).affected() > 0;
}

// Writes the webhook event and a pending delivery per webhook of the asset's
// account that asked for `type`, on `c` inside the status change's transaction.
// Deliveries are written here rather than fanned out later by the dispatcher:
// there is then no "not yet fanned out" state to track and recover after a crash,
// and a webhook gets exactly the events that happened while it existed. The cost
// is one indexed lookup per transition.
void emit_event(Connection& c, const std::string& asset_id, std::string_view type, int64_t now_ms) {
  auto a = c.exec("SELECT account_id FROM rend.assets WHERE id = $1", Params().add(asset_id));
  if (a.rows() == 0) return;
  const std::string account = a.text(0, 0);
  const std::string event_id = core::new_id("evt");
  c.exec("INSERT INTO rend.webhook_events (id, account_id, asset_id, type, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
         Params().add(event_id).add(account).add(asset_id).add(type).add(now_ms));
  auto hooks = c.exec("SELECT id FROM rend.webhooks WHERE account_id = $1 AND strpos(events, ',' || $2 || ',') > 0",
                      Params().add(account).add(type));
  for (int i = 0; i < hooks.rows(); ++i)
    c.exec(
        "INSERT INTO rend.webhook_deliveries (id, webhook_id, event_id, event_type, account_id, asset_id,"
        " event_created_at_ms, status, attempts, next_attempt_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0,"
        " $7)",
        Params()
            .add(core::new_id("dlv"))
            .add(hooks.text(i, 0))
            .add(event_id)
            .add(type)
            .add(account)
            .add(asset_id)
            .add(now_ms));
}

// update_live_asset in a transaction that also writes the webhook event when the
// status really changed to `new_status` (a re-run job marking playable again is no
// new event). FOR UPDATE: a concurrent transition waits, then sees this one's status.
bool transition(Connection& c, const std::string& asset_id, std::string_view assignments, Params params,
                std::string_view new_status, std::string_view event_type, int64_t now_ms) {
  Transaction tx(c);
  auto before = c.exec("SELECT status FROM rend.assets WHERE id = $1 FOR UPDATE", Params().add(asset_id));
  const bool changed = update_live_asset(c, asset_id, assignments, std::move(params));
  if (changed && before.rows() > 0 && before.text(0, 0) != new_status) emit_event(c, asset_id, event_type, now_ms);
  tx.commit();
  return changed;
}

class PostgresMetadataStore final : public MetadataStore {
 public:
  PostgresMetadataStore(std::string url, Target target) : pool_(std::move(url), std::move(target), kPoolSize) {}

  // One override per MetadataStore method (metadata.h). sqlite/metadata_store.h
  // declares the same list: a deliberate pair, two implementations of one interface.
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
  bool set_source_info(const std::string& asset_id, double duration_s, int width, int height) override;
  bool set_progress(const std::string& asset_id, double fraction) override;
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
  bool update_asset(const std::string& asset_id, std::string_view assignments, const Params& params) {
    const bool changed = pool_.run([&](Connection& c) { return update_live_asset(c, asset_id, assignments, params); });
    if (changed) asset_changed(asset_id);  // after the commit (see MetadataStore::add_asset_listener)
    return changed;
  }
  bool publish_ladder(const std::string& asset_id, std::string_view status, std::string_view at_column,
                      const std::vector<Tier>& tiers, const std::string& billing_tier, int64_t now_ms);
  bool finish_job(const std::string& job_id, const std::string& worker_id, std::string_view status,
                  const std::optional<std::string>& error, int64_t now_ms);

  Pool pool_;
};

void PostgresMetadataStore::migrate() {
  pool_.run([&](Connection& c) {
    // One transaction for the whole run: a failing migration leaves the schema as it
    // was. The advisory lock is taken before anything else, so a second process
    // starting at the same moment waits here (even CREATE SCHEMA IF NOT EXISTS races
    // on its own), then finds every version recorded and does nothing.
    Transaction tx(c);
    c.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kMigrationLockKey));
    c.exec("CREATE SCHEMA IF NOT EXISTS rend");
    c.exec(
        "CREATE TABLE IF NOT EXISTS rend.schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)");
    std::set<int64_t> applied;
    auto rows = c.exec("SELECT version FROM rend.schema_migrations");
    for (int i = 0; i < rows.rows(); ++i) applied.insert(rows.int64(i, 0));
    for (const auto& m : migrations()) {
      if (applied.contains(m.version)) continue;
      c.exec_script(m.sql);
      c.exec("INSERT INTO rend.schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
             Params().add(m.version).add(m.name).add(core::SystemClock().now_unix_ms()));
      core::log::info("postgres_migration_applied", {{"version", m.version}, {"name", m.name}});
    }
    // Migrations are additive, so an older binary keeps working against a newer
    // schema during a rolling upgrade; say so rather than refuse to start.
    if (!applied.empty() && *applied.rbegin() > migrations().back().version)
      core::log::warn("postgres_schema_newer_than_binary",
                      {{"schema_version", *applied.rbegin()}, {"binary_version", migrations().back().version}});
    tx.commit();
  });
}

bool PostgresMetadataStore::healthy() {
  // Deliberately catches everything: a health probe reports, it never throws.
  try {
    return pool_.run([](Connection& c) { return c.exec("SELECT 1").rows() == 1; });
  } catch (const std::exception& e) {
    core::log::warn("postgres_unhealthy", {{"error", std::string_view(e.what())}});
    return false;
  }
}

void PostgresMetadataStore::create_account(const Account& account) {
  pool_.run([&](Connection& c) {
    c.exec("INSERT INTO rend.accounts (id, name, created_at_ms) VALUES ($1, $2, $3)",
           Params().add(account.id).add(account.name).add(account.created_at_ms));
  });
}

std::optional<Account> PostgresMetadataStore::get_account(const std::string& id) {
  return pool_.run([&](Connection& c) -> std::optional<Account> {
    auto r = c.exec("SELECT id, name, created_at_ms FROM rend.accounts WHERE id = $1", Params().add(id));
    if (r.rows() == 0) return std::nullopt;
    return Account{r.text(0, 0), r.text(0, 1), r.int64(0, 2)};
  });
}

std::vector<Account> PostgresMetadataStore::list_accounts() {
  return pool_.run([](Connection& c) {
    auto r = c.exec("SELECT id, name, created_at_ms FROM rend.accounts ORDER BY created_at_ms, id");
    std::vector<Account> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2)});
    return out;
  });
}

void PostgresMetadataStore::create_api_key(const ApiKey& key) {
  pool_.run([&](Connection& c) {
    // The foreign key refuses an unknown account.
    c.exec(
        "INSERT INTO rend.api_keys (id, name, secret_hash, scopes, created_at_ms, revoked_at_ms, account_id)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
        Params()
            .add(key.id)
            .add(key.name)
            .add(key.secret_hash)
            .add(strings_to_json(key.scopes))
            .add(key.created_at_ms)
            .add(key.revoked_at_ms)
            .add(key.account_id));
  });
}

std::optional<ApiKey> PostgresMetadataStore::find_api_key_by_hash(const std::string& secret_hash) {
  return pool_.run([&](Connection& c) -> std::optional<ApiKey> {
    auto r = c.exec("SELECT " + std::string(kKeyColumns) + " FROM rend.api_keys WHERE secret_hash = $1",
                    Params().add(secret_hash));
    if (r.rows() == 0) return std::nullopt;
    auto k = key_from_row(r.row(0));
    k.secret_hash = secret_hash;
    return k;
  });
}

std::vector<ApiKey> PostgresMetadataStore::list_api_keys(const std::optional<std::string>& account_id) {
  return pool_.run([&](Connection& c) {
    auto r = account_id
                 ? c.exec("SELECT " + std::string(kKeyColumns) +
                              " FROM rend.api_keys WHERE account_id = $1 ORDER BY created_at_ms, id",
                          Params().add(*account_id))
                 : c.exec("SELECT " + std::string(kKeyColumns) + " FROM rend.api_keys ORDER BY created_at_ms, id");
    std::vector<ApiKey> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(key_from_row(r.row(i)));
    return out;
  });
}

bool PostgresMetadataStore::revoke_api_key(const std::string& id, int64_t now_ms) {
  return pool_.run([&](Connection& c) {
    return c.exec("UPDATE rend.api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                  Params().add(id).add(now_ms))
               .affected() > 0;
  });
}

void PostgresMetadataStore::create_upload(const Asset& asset, const Upload& upload) {
  pool_.run([&](Connection& c) {
    Transaction tx(c);
    c.exec(
        "INSERT INTO rend.assets (id, status, visibility, owner_key_id, created_at_ms, expected_bytes, account_id,"
        " name, source_filename) VALUES ($1, 'waiting_upload', $2, $3, $4, $5, $6, $7, $8)",
        Params()
            .add(asset.id)
            .add(asset.visibility)
            .add(asset.owner_key_id)
            .add(asset.created_at_ms)
            .add(asset.expected_bytes)
            .add(asset.account_id)
            .add(asset.name)
            .add(asset.source_filename));
    c.exec(
        "INSERT INTO rend.uploads (id, asset_id, expected_bytes, status, created_at_ms, protocol, expires_at_ms,"
        " multipart_handle, direct_origin) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8)",
        Params()
            .add(upload.id)
            .add(asset.id)
            .add(upload.expected_bytes)
            .add(upload.created_at_ms)
            .add(upload.protocol)
            .add(upload.expires_at_ms)
            .add(upload.multipart_handle)
            .add(upload.direct_origin));
    emit_event(c, asset.id, "asset.created", asset.created_at_ms);
    tx.commit();
  });
}

std::optional<Upload> PostgresMetadataStore::get_upload(const std::string& upload_id) {
  return pool_.run([&](Connection& c) -> std::optional<Upload> {
    auto r =
        c.exec("SELECT " + std::string(kUploadColumns) + " FROM rend.uploads WHERE id = $1", Params().add(upload_id));
    if (r.rows() == 0) return std::nullopt;
    return upload_from_row(r.row(0));
  });
}

std::optional<Asset> PostgresMetadataStore::get_asset(const std::string& id) {
  return pool_.run([&](Connection& c) -> std::optional<Asset> {
    auto r = c.exec(select_assets("id = $1"), Params().add(id));
    if (r.rows() == 0) return std::nullopt;
    return asset_from_row(r.row(0));
  });
}

ListPage PostgresMetadataStore::list_assets(const std::string& account_id, int limit,
                                            const std::optional<std::string>& cursor, bool include_deleted) {
  // Decoded before touching the database: a bad cursor is the caller's error.
  std::optional<AssetCursor> after;
  if (cursor) after = decode_asset_cursor(*cursor);
  limit = std::clamp(limit, 1, kMaxPageSize);

  // Keyset pagination, stable under concurrent inserts unlike OFFSET; the row
  // comparison matches the (account, created_at desc, id desc) index. One row more than
  // the page tells whether another page exists. Clauses are added only when needed
  // so the planner sees a plain index range.
  Params params;
  params.add(account_id);
  std::string where = "account_id = $1";
  if (!include_deleted) where += " AND status <> 'deleted'";
  if (after) {
    params.add(after->created_at_ms).add(after->id);
    where += " AND (created_at_ms, id) < ($2, $3)";
  }
  params.add(limit + 1);
  where += " ORDER BY created_at_ms DESC, id DESC LIMIT $" + std::to_string(params.size());

  ListPage page = pool_.run([&](Connection& c) {
    auto r = c.exec(select_assets(where), params);
    ListPage p;
    for (int i = 0; i < r.rows(); ++i) p.assets.push_back(asset_from_row(r.row(i)));
    return p;
  });
  if (page.assets.size() > size_t(limit)) {
    page.assets.pop_back();
    const auto& last = page.assets.back();
    page.next_cursor = encode_asset_cursor({last.created_at_ms, last.id});
  }
  return page;
}

bool PostgresMetadataStore::claim_upload(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                                         int64_t lease_ms) {
  return pool_.run([&](Connection& c) {
    // One conditional UPDATE: a concurrent claim blocks on the row lock, then
    // re-checks the WHERE on the new row version and matches nothing.
    return c.exec(
                "UPDATE rend.uploads SET receive_claim = $2, receive_until_ms = $3 WHERE id = $1 AND status = 'pending'"
                " AND (receive_claim IS NULL OR receive_until_ms < $4)",
                Params().add(upload_id).add(claim_id).add(now_ms + lease_ms).add(now_ms))
               .affected() > 0;
  });
}

bool PostgresMetadataStore::renew_upload_claim(const std::string& upload_id, const std::string& claim_id,
                                               int64_t now_ms, int64_t lease_ms) {
  return pool_.run([&](Connection& c) {
    return c.exec(
                "UPDATE rend.uploads SET receive_until_ms = $3 WHERE id = $1 AND receive_claim = $2"
                " AND status = 'pending'",
                Params().add(upload_id).add(claim_id).add(now_ms + lease_ms))
               .affected() > 0;
  });
}

void PostgresMetadataStore::release_upload_claim(const std::string& upload_id, const std::string& claim_id) {
  pool_.run([&](Connection& c) {
    c.exec("UPDATE rend.uploads SET receive_claim = NULL, receive_until_ms = NULL WHERE id = $1 AND receive_claim = $2",
           Params().add(upload_id).add(claim_id));
    return 0;
  });
}

bool PostgresMetadataStore::save_upload_progress(const std::string& upload_id, const std::string& claim_id,
                                                 const UploadProgress& p) {
  return pool_.run([&](Connection& c) {
    return c.exec(
                "UPDATE rend.uploads SET upload_offset = $3, parts = $4, tail = $5"
                " WHERE id = $1 AND receive_claim = $2 AND status = 'pending'",
                Params()
                    .add(upload_id)
                    .add(claim_id)
                    .add(p.offset)
                    .add(chunks_to_json(p.parts))
                    .add(chunks_to_json(p.tail)))
               .affected() > 0;
  });
}

bool PostgresMetadataStore::start_resumable_upload(const std::string& upload_id, int64_t length,
                                                   const std::string& handle, int64_t expires_at_ms) {
  std::optional<std::string> changed_asset;
  const bool started = pool_.run([&](Connection& c) {
    Transaction tx(c);
    const bool ok = c.exec(
                         "UPDATE rend.uploads SET protocol = 'tus', expected_bytes = $2, multipart_handle = $3,"
                         " expires_at_ms = $4 WHERE id = $1 AND status = 'pending' AND protocol = 'put'"
                         " AND receive_claim IS NULL",
                         Params().add(upload_id).add(length).add(handle).add(expires_at_ms))
                        .affected() > 0;
    if (ok) {
      auto a = c.exec(
          "UPDATE rend.assets SET expected_bytes = $2 WHERE id = (SELECT asset_id FROM rend.uploads WHERE id = $1)"
          " RETURNING id",
          Params().add(upload_id).add(length));
      tx.commit();
      if (a.rows() > 0) changed_asset = a.text(0, 0);
    }
    return ok;
  });
  if (changed_asset) asset_changed(*changed_asset);
  return started;
}

std::vector<Upload> PostgresMetadataStore::expired_uploads(int64_t now_ms, int limit) {
  return pool_.run([&](Connection& c) {
    auto r = c.exec("SELECT " + std::string(kUploadColumns) +
                        " FROM rend.uploads WHERE status = 'pending' AND expires_at_ms IS NOT NULL"
                        " AND expires_at_ms < $1 ORDER BY expires_at_ms, id LIMIT $2",
                    Params().add(now_ms).add(int64_t(limit)));
    std::vector<Upload> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(upload_from_row(r.row(i)));
    return out;
  });
}

bool PostgresMetadataStore::end_upload(const std::string& upload_id, const std::string& claim_id,
                                       const std::string& status, int64_t now_ms) {
  if (status != "expired" && status != "terminated") throw StoreError("an upload cannot end as " + status);
  std::optional<std::string> changed_asset;
  const bool ended = pool_.run([&](Connection& c) {
    Transaction tx(c);
    auto r = c.exec(
        "UPDATE rend.uploads SET status = $3, ended_at_ms = $4, receive_claim = NULL, receive_until_ms = NULL"
        " WHERE id = $1 AND receive_claim = $2 AND status = 'pending' RETURNING asset_id",
        Params().add(upload_id).add(claim_id).add(status).add(now_ms));
    if (r.rows() == 0) return false;
    const std::string assignments =
        status == "expired"
            ? "status = 'failed', error_code = 'upload_expired', error_message = 'the upload was not finished in "
              "time', failed_at_ms = $2"
            : "status = 'deleted', deleted_at_ms = $2";
    const std::string asset_id = r.text(0, 0);
    auto changed =
        c.exec("UPDATE rend.assets SET " + assignments + " WHERE id = $1 AND status = 'waiting_upload' RETURNING id",
               Params().add(asset_id).add(now_ms));
    // The webhook outbox, in the same transaction as the change (issue 16).
    if (status == "expired") emit_event(c, asset_id, "upload.expired", now_ms);
    if (changed.rows() > 0) emit_event(c, asset_id, status == "expired" ? "asset.failed" : "asset.deleted", now_ms);
    tx.commit();
    if (changed.rows() > 0) changed_asset = asset_id;
    return true;
  });
  if (changed_asset) asset_changed(*changed_asset);
  return ended;
}

std::string PostgresMetadataStore::complete_upload(const std::string& upload_id, int64_t source_bytes, int64_t now_ms) {
  std::string changed_asset;
  auto job = pool_.run([&](Connection& c) {
    Transaction tx(c);
    // FOR UPDATE locks the upload and its asset: two concurrent completions of one
    // upload serialize (the second then sees `complete`), and a concurrent delete
    // cannot slip in between this check and the updates below.
    auto r = c.exec(
        "SELECT u.status, u.asset_id, a.status FROM rend.uploads u JOIN rend.assets a ON a.id = u.asset_id"
        " WHERE u.id = $1 FOR UPDATE",
        Params().add(upload_id));
    if (r.rows() == 0) throw StoreError("upload " + upload_id + " not found");
    if (r.text(0, 0) != "pending") throw StoreError("upload " + upload_id + " is not pending");
    if (r.text(0, 2) != "waiting_upload")
      throw StoreError("upload " + upload_id + ": asset is " + r.text(0, 2) + ", not waiting_upload");
    const std::string asset_id = r.text(0, 1);

    c.exec(
        "UPDATE rend.uploads SET status = 'complete', completed_at_ms = $2, receive_claim = NULL,"
        " receive_until_ms = NULL WHERE id = $1",
        Params().add(upload_id).add(now_ms));
    c.exec("UPDATE rend.assets SET status = 'queued', uploaded_at_ms = $2, source_bytes = $3 WHERE id = $1",
           Params().add(asset_id).add(now_ms).add(source_bytes));
    std::string job_id = core::new_id("job");
    c.exec(
        "INSERT INTO rend.jobs (id, asset_id, kind, status, attempts, created_at_ms)"
        " VALUES ($1, $2, 'transcode', 'queued', 0, $3)",
        Params().add(job_id).add(asset_id).add(now_ms));
    emit_event(c, asset_id, "asset.uploaded", now_ms);
    tx.commit();
    changed_asset = asset_id;
    return job_id;
  });
  asset_changed(changed_asset);
  return job;
}

std::string PostgresMetadataStore::create_import(const Asset& asset) {
  return pool_.run([&](Connection& c) {
    Transaction tx(c);
    c.exec(
        "INSERT INTO rend.assets (id, status, visibility, owner_key_id, created_at_ms, account_id, input_url, name,"
        " source_filename) VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8)",
        Params()
            .add(asset.id)
            .add(asset.visibility)
            .add(asset.owner_key_id)
            .add(asset.created_at_ms)
            .add(asset.account_id)
            .add(asset.input_url)
            .add(asset.name)
            .add(asset.source_filename));
    std::string job_id = core::new_id("job");
    c.exec(
        "INSERT INTO rend.jobs (id, asset_id, kind, status, attempts, created_at_ms)"
        " VALUES ($1, $2, 'transcode', 'queued', 0, $3)",
        Params().add(job_id).add(asset.id).add(asset.created_at_ms));
    tx.commit();
    return job_id;
  });
}

bool PostgresMetadataStore::mark_source_stored(const std::string& asset_id, int64_t source_bytes, int64_t now_ms) {
  return update_asset(asset_id, "uploaded_at_ms = $2, source_bytes = $3, input_url = NULL",
                      Params().add(now_ms).add(source_bytes));
}

bool PostgresMetadataStore::set_asset_name(const std::string& asset_id, const std::optional<std::string>& name) {
  return update_asset(asset_id, "name = $2", Params().add(name));
}

bool PostgresMetadataStore::set_source_filename(const std::string& asset_id, const std::string& filename) {
  return update_asset(asset_id, "source_filename = $2", Params().add(filename));
}

bool PostgresMetadataStore::mark_processing(const std::string& asset_id, int64_t now_ms) {
  return update_asset(asset_id, "status = 'processing', processing_at_ms = $2", Params().add(now_ms));
}

bool PostgresMetadataStore::set_source_info(const std::string& asset_id, double duration_s, int width, int height) {
  return update_asset(asset_id, "duration_s = $2, width = $3, height = $4",
                      Params().add(duration_s).add(width).add(height));
}

bool PostgresMetadataStore::set_progress(const std::string& asset_id, double fraction) {
  return update_asset(asset_id, "progress = $2", Params().add(std::clamp(fraction, 0.0, 1.0)));
}

bool PostgresMetadataStore::publish_ladder(const std::string& asset_id, std::string_view status,
                                           std::string_view at_column, const std::vector<Tier>& tiers,
                                           const std::string& billing_tier, int64_t now_ms) {
  // The first time is the one that counts: a re-run job (its first worker died) must
  // not move playable_at later than when viewers could really start.
  const std::string col(at_column);
  const std::string done = status == "hls_ready" ? ", progress = 1" : "";
  const bool changed = pool_.run([&](Connection& c) {
    return transition(c, asset_id,
                      "status = $2, tiers = $3::jsonb, billing_tier = $4, " + col + " = COALESCE(" + col + ", $5)" +
                          done,
                      Params().add(status).add(tiers_to_json(tiers)).add(billing_tier).add(now_ms), status,
                      status == "hls_ready" ? "asset.ready" : "asset.playable", now_ms);
  });
  if (changed) asset_changed(asset_id);
  return changed;
}

bool PostgresMetadataStore::mark_playable(const std::string& asset_id, const std::vector<Tier>& tiers,
                                          const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "playable", "playable_at_ms", tiers, billing_tier, now_ms);
}

bool PostgresMetadataStore::mark_hls_ready(const std::string& asset_id, const std::vector<Tier>& tiers,
                                           const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "hls_ready", "hls_ready_at_ms", tiers, billing_tier, now_ms);
}

bool PostgresMetadataStore::mark_failed(const std::string& asset_id, const std::string& code,
                                        const std::string& message, int64_t now_ms) {
  const bool changed = pool_.run([&](Connection& c) {
    return transition(c, asset_id, "status = 'failed', error_code = $2, error_message = $3, failed_at_ms = $4",
                      Params().add(code).add(message).add(now_ms), "failed", "asset.failed", now_ms);
  });
  if (changed) asset_changed(asset_id);
  return changed;
}

bool PostgresMetadataStore::mark_deleted(const std::string& asset_id, int64_t now_ms) {
  const bool changed = pool_.run([&](Connection& c) {
    return transition(c, asset_id, "status = 'deleted', deleted_at_ms = $2", Params().add(now_ms), "deleted",
                      "asset.deleted", now_ms);
  });
  if (changed) asset_changed(asset_id);
  return changed;
}

std::optional<Job> PostgresMetadataStore::claim_job(const std::string& worker_id, int64_t lock_timeout_ms,
                                                    int64_t now_ms) {
  std::vector<std::string> failed_assets;  // abandoned jobs' assets, notified after the commit
  auto claimed = pool_.run([&](Connection& c) -> std::optional<Job> {
    failed_assets.clear();  // a retried run starts over
    Transaction tx(c);
    for (;;) {
      // SKIP LOCKED: a row another claimer is deciding on is passed over rather than
      // waited for, so concurrent workers each take a different job without queueing
      // behind one another; FOR UPDATE re-checks the WHERE on the latest row version,
      // so a job claimed and committed meanwhile is never handed out twice.
      auto pick = c.exec(
          "SELECT id, asset_id, kind, attempts FROM rend.jobs"
          " WHERE status = 'queued' OR (status = 'claimed' AND locked_until_ms < $1)"
          " ORDER BY created_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED",
          Params().add(now_ms));
      if (pick.rows() == 0) break;
      Job job{pick.text(0, 0),       pick.text(0, 1), pick.text(0, 2),
              int(pick.int64(0, 3)), worker_id,       now_ms + lock_timeout_ms};

      if (job.attempts >= kMaxJobAttempts) {
        c.exec(
            "UPDATE rend.jobs SET status = 'failed', error = $2, locked_by = NULL, finished_at_ms = $3 WHERE id = $1",
            Params().add(job.id).add(kLostTooOften).add(now_ms));
        if (update_live_asset(
                c, job.asset_id,
                "status = 'failed', error_code = 'transcode_failed', error_message = $2, failed_at_ms = $3",
                Params().add(kLostTooOften).add(now_ms))) {
          emit_event(c, job.asset_id, "asset.failed", now_ms);
          failed_assets.push_back(job.asset_id);
        }
        core::log::warn("job_abandoned", {{"job_id", job.id}, {"asset_id", job.asset_id}, {"attempts", job.attempts}});
        continue;
      }

      job.attempts += 1;
      c.exec(
          "UPDATE rend.jobs SET status = 'claimed', attempts = $2, locked_by = $3, locked_until_ms = $4 WHERE id = $1",
          Params().add(job.id).add(job.attempts).add(worker_id).add(job.locked_until_ms));
      tx.commit();
      return job;
    }
    // Commits any jobs abandoned above even when nothing is left to hand out.
    tx.commit();
    return std::nullopt;
  });
  for (const auto& id : failed_assets) asset_changed(id);
  return claimed;
}

bool PostgresMetadataStore::heartbeat_job(const std::string& job_id, const std::string& worker_id,
                                          int64_t lock_timeout_ms, int64_t now_ms) {
  return pool_.run([&](Connection& c) {
    return c.exec("UPDATE rend.jobs SET locked_until_ms = $3 WHERE id = $1 AND locked_by = $2 AND status = 'claimed'",
                  Params().add(job_id).add(worker_id).add(now_ms + lock_timeout_ms))
               .affected() > 0;
  });
}

bool PostgresMetadataStore::release_job(const std::string& job_id, const std::string& worker_id) {
  return pool_.run([&](Connection& c) {
    return c.exec(
                "UPDATE rend.jobs SET status = 'queued', attempts = GREATEST(attempts - 1, 0), locked_by = NULL,"
                " locked_until_ms = 0 WHERE id = $1 AND locked_by = $2 AND status = 'claimed'",
                Params().add(job_id).add(worker_id))
               .affected() > 0;
  });
}

bool PostgresMetadataStore::finish_job(const std::string& job_id, const std::string& worker_id, std::string_view status,
                                       const std::optional<std::string>& error, int64_t now_ms) {
  const bool held = pool_.run([&](Connection& c) {
    return c.exec(
                "UPDATE rend.jobs SET status = $3, error = $4, finished_at_ms = $5"
                " WHERE id = $1 AND locked_by = $2 AND status = 'claimed'",
                Params().add(job_id).add(worker_id).add(status).add(error).add(now_ms))
               .affected() > 0;
  });
  // The lock expired and another worker took the job over; its result wins.
  if (!held) core::log::warn("job_finish_not_held", {{"job_id", job_id}, {"worker_id", worker_id}, {"status", status}});
  return held;
}

// complete_job and fail_job are finish_job with a status, as in the SQLite store: a
// deliberate pair (the interface names the two outcomes; each backend's SQL is in
// finish_job).
void PostgresMetadataStore::complete_job(const std::string& job_id, const std::string& worker_id, int64_t now_ms) {
  finish_job(job_id, worker_id, "done", std::nullopt, now_ms);
}

void PostgresMetadataStore::fail_job(const std::string& job_id, const std::string& worker_id, const std::string& reason,
                                     int64_t now_ms) {
  finish_job(job_id, worker_id, "failed", reason, now_ms);
}

std::vector<StoredMinutes> PostgresMetadataStore::stored_minutes() {
  return pool_.run([](Connection& c) {
    // As the SQLite store: held = playable or hls_ready, never deleted.
    auto r = c.exec(
        "SELECT account_id, billing_tier, sum(duration_s) / 60.0 FROM rend.assets"
        " WHERE status IN ('playable', 'hls_ready') AND deleted_at_ms IS NULL"
        " AND duration_s IS NOT NULL AND billing_tier <> ''"
        // Byte order, as SQLite sorts, whatever the database's collation.
        " GROUP BY account_id, billing_tier ORDER BY account_id COLLATE \"C\", billing_tier COLLATE \"C\"");
    std::vector<StoredMinutes> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.real(i, 2)});
    return out;
  });
}

int64_t PostgresMetadataStore::pending_job_count() {
  return pool_.run([](Connection& c) {
    return c.exec("SELECT count(*) FROM rend.jobs WHERE status IN ('queued', 'claimed')").int64(0, 0);
  });
}

EdgeHeartbeat PostgresMetadataStore::heartbeat_edge(const EdgeNode& e, int64_t fresh_since_ms, uint64_t max_edges) {
  return pool_.run([&](Connection& c) {
    Transaction tx(c);
    c.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kEdgeRegistryLockKey));
    auto outcome = EdgeHeartbeat::recorded;
    auto r = c.exec("SELECT region, base_url, last_heartbeat_at FROM rend.edge_nodes WHERE edge_id = $1",
                    Params().add(e.edge_id));
    if (r.rows() > 0) {
      if (r.text(0, 0) != e.region || r.text(0, 1) != e.base_url) {
        if (r.int64(0, 2) >= fresh_since_ms) return EdgeHeartbeat::conflict;
        outcome = EdgeHeartbeat::taken_over;
      }
    } else {
      auto count = [&] { return static_cast<uint64_t>(c.exec("SELECT count(*) FROM rend.edge_nodes").int64(0, 0)); };
      if (count() >= max_edges) {
        c.exec("DELETE FROM rend.edge_nodes WHERE last_heartbeat_at < $1", Params().add(fresh_since_ms));
        if (count() >= max_edges) return EdgeHeartbeat::registry_full;
      }
    }
    Params p;
    p.add(e.edge_id)
        .add(e.region)
        .add(e.base_url)
        .add(e.version)
        .add(e.last_heartbeat_at_ms)
        .add(e.cache_bytes)
        .add(e.cache_objects);
    c.exec(
        "INSERT INTO rend.edge_nodes (edge_id, region, base_url, version, registered_at, last_heartbeat_at,"
        " cache_bytes, cache_objects) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)"
        " ON CONFLICT (edge_id) DO UPDATE SET region = excluded.region, base_url = excluded.base_url,"
        " version = excluded.version, last_heartbeat_at = excluded.last_heartbeat_at,"
        " cache_bytes = excluded.cache_bytes, cache_objects = excluded.cache_objects",
        p);
    tx.commit();
    return outcome;
  });
}

std::vector<EdgeNode> PostgresMetadataStore::list_edges() {
  return pool_.run([](Connection& c) {
    auto r = c.exec(
        "SELECT edge_id, region, base_url, version, registered_at, last_heartbeat_at, cache_bytes, cache_objects"
        " FROM rend.edge_nodes ORDER BY edge_id");
    std::vector<EdgeNode> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.int64(i, 4), r.int64(i, 5),
                     r.int64(i, 6), r.int64(i, 7)});
    return out;
  });
}

// ---- Webhooks ----

void PostgresMetadataStore::create_webhook(const Webhook& w) {
  pool_.run([&](Connection& c) {
    // The foreign key refuses an unknown account.
    c.exec(
        "INSERT INTO rend.webhooks (id, account_id, url, events, secret, previous_secret, previous_secret_until_ms,"
        " created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        Params()
            .add(w.id)
            .add(w.account_id)
            .add(w.url)
            .add(webhook_events_to_column(w.events))
            .add(w.secret)
            .add(w.previous_secret)
            .add(w.previous_secret_until_ms)
            .add(w.created_at_ms));
  });
}

std::optional<Webhook> PostgresMetadataStore::get_webhook(const std::string& id) {
  return pool_.run([&](Connection& c) -> std::optional<Webhook> {
    auto r = c.exec("SELECT " + std::string(kWebhookColumns) + " FROM rend.webhooks WHERE id = $1", Params().add(id));
    if (r.rows() == 0) return std::nullopt;
    return webhook_from_row(r.row(0));
  });
}

std::vector<Webhook> PostgresMetadataStore::list_webhooks(const std::string& account_id) {
  return pool_.run([&](Connection& c) {
    auto r = c.exec("SELECT " + std::string(kWebhookColumns) +
                        " FROM rend.webhooks WHERE account_id = $1 ORDER BY created_at_ms, id",
                    Params().add(account_id));
    std::vector<Webhook> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(webhook_from_row(r.row(i)));
    return out;
  });
}

bool PostgresMetadataStore::delete_webhook(const std::string& id) {
  return pool_.run([&](Connection& c) {
    Transaction tx(c);
    c.exec("DELETE FROM rend.webhook_deliveries WHERE webhook_id = $1", Params().add(id));
    const bool removed = c.exec("DELETE FROM rend.webhooks WHERE id = $1", Params().add(id)).affected() > 0;
    tx.commit();
    return removed;
  });
}

bool PostgresMetadataStore::rotate_webhook_secret(const std::string& id, const std::string& new_secret,
                                                  int64_t previous_until_ms) {
  return pool_.run([&](Connection& c) {
    // The right-hand sides read the row as it was: the current secret becomes the previous one.
    return c.exec(
                "UPDATE rend.webhooks SET previous_secret = secret, previous_secret_until_ms = $3, secret = $2"
                " WHERE id = $1",
                Params().add(id).add(new_secret).add(previous_until_ms))
               .affected() > 0;
  });
}

bool PostgresMetadataStore::record_upload_expired(const std::string& upload_id, int64_t now_ms) {
  return pool_.run([&](Connection& c) {
    Transaction tx(c);
    auto r = c.exec("SELECT asset_id FROM rend.uploads WHERE id = $1", Params().add(upload_id));
    if (r.rows() == 0) return false;
    emit_event(c, r.text(0, 0), "upload.expired", now_ms);
    tx.commit();
    return true;
  });
}

std::vector<WebhookDelivery> PostgresMetadataStore::list_webhook_deliveries(const std::string& webhook_id, int limit) {
  return pool_.run([&](Connection& c) {
    auto r = c.exec("SELECT " + std::string(kDeliveryColumns) +
                        " FROM rend.webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2",
                    Params().add(webhook_id).add(std::clamp(limit, 1, kMaxPageSize)));
    std::vector<WebhookDelivery> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(delivery_from_row(r.row(i)));
    return out;
  });
}

std::optional<WebhookDelivery> PostgresMetadataStore::claim_webhook_delivery(const std::string& claimer, int64_t now_ms,
                                                                             int64_t lease_ms) {
  return pool_.run([&](Connection& c) -> std::optional<WebhookDelivery> {
    // As claim_job: SKIP LOCKED passes over a row another process is claiming, and
    // FOR UPDATE re-checks the WHERE on the latest row version, so two API processes
    // never take the same delivery while its lease holds.
    auto r = c.exec(
        "UPDATE rend.webhook_deliveries SET claimed_by = $1, claim_until_ms = $2 WHERE seq = ("
        " SELECT seq FROM rend.webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= $3"
        " AND (claim_until_ms IS NULL OR claim_until_ms < $3) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING " +
            std::string(kDeliveryColumns),
        Params().add(claimer).add(now_ms + lease_ms).add(now_ms));
    if (r.rows() == 0) return std::nullopt;
    return delivery_from_row(r.row(0));
  });
}

bool PostgresMetadataStore::finish_webhook_delivery(const std::string& delivery_id, const std::string& claimer,
                                                    const WebhookAttempt& a) {
  return pool_.run([&](Connection& c) {
    return c.exec(
                "UPDATE rend.webhook_deliveries SET status = $3, attempts = attempts + 1, last_status_code = $4,"
                " last_latency_ms = $5, last_error = $6, last_attempt_at_ms = $7, next_attempt_at_ms = $8,"
                " claimed_by = NULL, claim_until_ms = NULL WHERE id = $1 AND claimed_by = $2",
                Params()
                    .add(delivery_id)
                    .add(claimer)
                    .add(a.status)
                    .add(a.status_code)
                    .add(a.latency_ms)
                    .add(a.error)
                    .add(a.attempted_at_ms)
                    .add(a.next_attempt_at_ms))
               .affected() > 0;
  });
}

WebhookRetry PostgresMetadataStore::retry_webhook_delivery(const std::string& webhook_id,
                                                           const std::string& delivery_id, int64_t now_ms) {
  return pool_.run([&](Connection& c) {
    Transaction tx(c);
    auto r = c.exec("SELECT claim_until_ms FROM rend.webhook_deliveries WHERE id = $1 AND webhook_id = $2 FOR UPDATE",
                    Params().add(delivery_id).add(webhook_id));
    if (r.rows() == 0) return WebhookRetry::not_found;
    if (auto until = r.opt_int64(0, 0); until && *until >= now_ms) return WebhookRetry::in_flight;
    c.exec(
        "UPDATE rend.webhook_deliveries SET status = 'pending', next_attempt_at_ms = $2, claimed_by = NULL,"
        " claim_until_ms = NULL WHERE id = $1",
        Params().add(delivery_id).add(now_ms));
    tx.commit();
    return WebhookRetry::queued;
  });
}

}  // namespace

std::unique_ptr<MetadataStore> open_postgres_metadata_store(const std::string& database_url) {
  // Only these schemes: libpq would also take "host=... password=..." strings, but
  // DATABASE_URL is documented as a URL and the factory dispatches on the scheme.
  if (!database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://"))
    throw std::invalid_argument("DATABASE_URL: expected postgres://USER:PASSWORD@HOST:PORT/DBNAME");
  Target target = parse_target(database_url);
  return std::make_unique<PostgresMetadataStore>(database_url, std::move(target));
}

}  // namespace rend::store::postgres
