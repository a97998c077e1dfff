#include "store/sqlite/metadata_store.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "store/codec.h"
#include "store/sqlite/db.h"
#include "store/sqlite/migrations.h"

namespace rend::store::sqlite {

namespace {

constexpr int kMaxPageSize = 100;
constexpr const char* kLostTooOften = "worker lost too many times";

std::string select_assets(std::string_view where) {
  return "SELECT " + std::string(kAssetColumns) + " FROM assets WHERE " + std::string(where);
}

}  // namespace

SqliteMetadataStore::SqliteMetadataStore(const std::string& path) : db_(std::make_unique<Db>(path)) {}

SqliteMetadataStore::~SqliteMetadataStore() = default;

void SqliteMetadataStore::migrate() {
  std::lock_guard lock(mu_);
  // A migration that rebuilds a table (0006_accounts) drops it while other tables
  // still reference it, which foreign-key enforcement refuses; SQLite's documented
  // procedure turns enforcement off around the change (it cannot be switched inside a
  // transaction) and checks every reference before committing, below.
  db_->exec("PRAGMA foreign_keys=OFF");
  struct KeysBackOn {
    Db& db;
    ~KeysBackOn() {
      try {
        db.exec("PRAGMA foreign_keys=ON");
      } catch (const StoreError& e) {
        core::log::error("sqlite_foreign_keys_not_restored", {{"error", std::string_view(e.what())}});
      }
    }
  } keys_back_on{*db_};
  // One transaction for the whole run: a failing migration leaves the schema as it
  // was, and a second process starting at the same time waits, then finds nothing to do.
  WriteTx tx(*db_);
  db_->exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
  std::set<int64_t> applied;
  {
    Stmt s(*db_, "SELECT version FROM schema_migrations");
    while (s.step()) applied.insert(s.int64(0));
  }
  for (const auto& m : migrations()) {
    if (applied.contains(m.version)) continue;
    db_->exec(m.sql);
    execute(*db_, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)", m.version, m.name,
            core::SystemClock().now_unix_ms());
    core::log::info("sqlite_migration_applied", {{"version", m.version}, {"name", m.name}});
  }
  // Only after a change: the check reads every table, too slow for every start.
  if (std::ranges::any_of(migrations(), [&](const auto& m) { return !applied.contains(m.version); })) {
    Stmt check(*db_, "PRAGMA foreign_key_check");
    if (check.step())
      throw StoreError("sqlite: migration left a dangling reference in table " + check.text(0) + "; rolled back");
  }
  // Migrations are additive, so an older binary can keep running against a newer
  // schema during a rolling upgrade; say so rather than refuse to start.
  if (!applied.empty() && *applied.rbegin() > migrations().back().version)
    core::log::warn("sqlite_schema_newer_than_binary",
                    {{"schema_version", *applied.rbegin()}, {"binary_version", migrations().back().version}});
  tx.commit();
}

bool SqliteMetadataStore::healthy() {
  std::lock_guard lock(mu_);
  try {
    Stmt s(*db_, "SELECT count(*) FROM schema_migrations");
    return s.step();
  } catch (const StoreError&) {
    return false;
  }
}

void SqliteMetadataStore::create_account(const Account& account) {
  std::lock_guard lock(mu_);
  Stmt(*db_, "INSERT INTO accounts (id, name, created_at_ms) VALUES (?1, ?2, ?3)")
      .bind(1, account.id)
      .bind(2, account.name)
      .bind(3, account.created_at_ms)
      .run();
}

std::optional<Account> SqliteMetadataStore::get_account(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT id, name, created_at_ms FROM accounts WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return Account{s.text(0), s.text(1), s.int64(2)};
}

std::vector<Account> SqliteMetadataStore::list_accounts() {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT id, name, created_at_ms FROM accounts ORDER BY created_at_ms, id");
  std::vector<Account> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.int64(2)});
  return out;
}

void SqliteMetadataStore::create_api_key(const ApiKey& key) {
  std::lock_guard lock(mu_);
  // The foreign key refuses an unknown account (foreign_keys=ON, see Db).
  execute(*db_,
          "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at_ms, revoked_at_ms, account_id)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
          key.id, key.name, key.secret_hash, strings_to_json(key.scopes), key.created_at_ms, key.revoked_at_ms,
          key.account_id);
}

std::optional<ApiKey> SqliteMetadataStore::find_api_key_by_hash(const std::string& secret_hash) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kKeyColumns) + " FROM api_keys WHERE secret_hash = ?1");
  s.bind(1, secret_hash);
  if (!s.step()) return std::nullopt;
  auto k = key_from_row(s);
  k.secret_hash = secret_hash;
  return k;
}

std::vector<ApiKey> SqliteMetadataStore::list_api_keys(const std::optional<std::string>& account_id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kKeyColumns) +
                   " FROM api_keys WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created_at_ms, id");
  if (account_id) s.bind(1, *account_id);
  std::vector<ApiKey> out;
  while (s.step()) out.push_back(key_from_row(s));
  return out;
}

bool SqliteMetadataStore::revoke_api_key(const std::string& id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return execute(*db_, "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL", id, now_ms) >
         0;
}

void SqliteMetadataStore::create_upload(const Asset& asset, const Upload& upload) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  execute(*db_,
          "INSERT INTO assets (id, status, visibility, owner_key_id, created_at_ms, expected_bytes, account_id, name,"
          " source_filename) VALUES (?1, 'waiting_upload', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
          asset.id, asset.visibility, asset.owner_key_id, asset.created_at_ms, asset.expected_bytes, asset.account_id,
          asset.name, asset.source_filename);
  execute(*db_,
          "INSERT INTO uploads (id, asset_id, expected_bytes, status, created_at_ms, protocol, expires_at_ms,"
          " multipart_handle, direct_origin) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8)",
          upload.id, asset.id, upload.expected_bytes, upload.created_at_ms, upload.protocol, upload.expires_at_ms,
          upload.multipart_handle, upload.direct_origin);
  emit_event(asset.id, "asset.created", asset.created_at_ms);
  tx.commit();
}

std::optional<Upload> SqliteMetadataStore::get_upload(const std::string& upload_id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kUploadColumns) + " FROM uploads WHERE id = ?1");
  s.bind(1, upload_id);
  if (!s.step()) return std::nullopt;
  return upload_from_row(s);
}

std::optional<Asset> SqliteMetadataStore::get_asset(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, select_assets("id = ?1"));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return asset_from_row(s);
}

ListPage SqliteMetadataStore::list_assets(const std::string& account_id, int limit,
                                          const std::optional<std::string>& cursor, bool include_deleted) {
  // Decoded before taking the lock: a bad cursor is the caller's error, not storage's.
  std::optional<AssetCursor> after;
  if (cursor) after = decode_asset_cursor(*cursor);
  limit = std::clamp(limit, 1, kMaxPageSize);

  std::lock_guard lock(mu_);
  // Keyset pagination: stable under concurrent inserts, unlike OFFSET. One row more
  // than the page tells whether another page exists.
  Stmt s(*db_, select_assets("account_id = ?1 AND (?2 OR status != 'deleted')"
                             " AND (?3 IS NULL OR (created_at_ms, id) < (?3, ?4))"
                             " ORDER BY created_at_ms DESC, id DESC LIMIT ?5"));
  s.bind(1, account_id).bind(2, include_deleted ? 1 : 0).bind(5, limit + 1);
  if (after) s.bind(3, after->created_at_ms).bind(4, after->id);

  ListPage page;
  while (s.step()) page.assets.push_back(asset_from_row(s));
  if (page.assets.size() > size_t(limit)) {
    page.assets.pop_back();
    const auto& last = page.assets.back();
    page.next_cursor = encode_asset_cursor({last.created_at_ms, last.id});
  }
  return page;
}

bool SqliteMetadataStore::claim_upload(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                                       int64_t lease_ms) {
  std::lock_guard lock(mu_);
  // One conditional UPDATE: SQLite serializes writers, so two claims cannot both match.
  return execute(*db_,
                 "UPDATE uploads SET receive_claim = ?2, receive_until_ms = ?3 WHERE id = ?1 AND status = 'pending'"
                 " AND (receive_claim IS NULL OR receive_until_ms < ?4)",
                 upload_id, claim_id, now_ms + lease_ms, now_ms) > 0;
}

bool SqliteMetadataStore::renew_upload_claim(const std::string& upload_id, const std::string& claim_id, int64_t now_ms,
                                             int64_t lease_ms) {
  std::lock_guard lock(mu_);
  return execute(*db_,
                 "UPDATE uploads SET receive_until_ms = ?3 WHERE id = ?1 AND receive_claim = ?2 AND status = 'pending'",
                 upload_id, claim_id, now_ms + lease_ms) > 0;
}

void SqliteMetadataStore::release_upload_claim(const std::string& upload_id, const std::string& claim_id) {
  std::lock_guard lock(mu_);
  execute(*db_, "UPDATE uploads SET receive_claim = NULL, receive_until_ms = NULL WHERE id = ?1 AND receive_claim = ?2",
          upload_id, claim_id);
}

bool SqliteMetadataStore::save_upload_progress(const std::string& upload_id, const std::string& claim_id,
                                               const UploadProgress& p) {
  std::lock_guard lock(mu_);
  return execute(*db_,
                 "UPDATE uploads SET upload_offset = ?3, parts = ?4, tail = ?5"
                 " WHERE id = ?1 AND receive_claim = ?2 AND status = 'pending'",
                 upload_id, claim_id, p.offset, chunks_to_json(p.parts), chunks_to_json(p.tail)) > 0;
}

bool SqliteMetadataStore::start_resumable_upload(const std::string& upload_id, int64_t length,
                                                 const std::string& handle, int64_t expires_at_ms) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  const bool ok = execute(*db_,
                          "UPDATE uploads SET protocol = 'tus', expected_bytes = ?2, multipart_handle = ?3,"
                          " expires_at_ms = ?4 WHERE id = ?1 AND status = 'pending' AND protocol = 'put'"
                          " AND receive_claim IS NULL",
                          upload_id, length, handle, expires_at_ms) > 0;
  if (ok) {
    execute(*db_, "UPDATE assets SET expected_bytes = ?2 WHERE id = (SELECT asset_id FROM uploads WHERE id = ?1)",
            upload_id, length);
    tx.commit();
    Stmt s(*db_, "SELECT asset_id FROM uploads WHERE id = ?1");
    s.bind(1, upload_id);
    if (s.step()) asset_changed(s.text(0));
  }
  return ok;
}

std::vector<Upload> SqliteMetadataStore::expired_uploads(int64_t now_ms, int limit) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kUploadColumns) +
                   " FROM uploads WHERE status = 'pending' AND expires_at_ms IS NOT NULL AND expires_at_ms < ?1"
                   " ORDER BY expires_at_ms, id LIMIT ?2");
  s.bind(1, now_ms).bind(2, limit);
  std::vector<Upload> out;
  while (s.step()) out.push_back(upload_from_row(s));
  return out;
}

bool SqliteMetadataStore::end_upload(const std::string& upload_id, const std::string& claim_id,
                                     const std::string& status, int64_t now_ms) {
  if (status != "expired" && status != "terminated") throw StoreError("an upload cannot end as " + status);
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  if (execute(*db_,
              "UPDATE uploads SET status = ?3, ended_at_ms = ?4, receive_claim = NULL, receive_until_ms = NULL"
              " WHERE id = ?1 AND receive_claim = ?2 AND status = 'pending'",
              upload_id, claim_id, status, now_ms) == 0)
    return false;
  const std::string assignments =
      status == "expired"
          ? "status = 'failed', error_code = 'upload_expired', error_message = 'the upload was not finished in time',"
            " failed_at_ms = ?2"
          : "status = 'deleted', deleted_at_ms = ?2";
  std::string asset_id;
  {
    Stmt s(*db_, "SELECT asset_id FROM uploads WHERE id = ?1");
    s.bind(1, upload_id);
    if (s.step()) asset_id = s.text(0);
  }
  const bool asset_changed =
      execute(*db_, "UPDATE assets SET " + assignments + " WHERE id = ?1 AND status = 'waiting_upload'", asset_id,
              now_ms) > 0;
  // The webhook outbox, in the same transaction as the change (issue 16).
  if (status == "expired") emit_event(asset_id, "upload.expired", now_ms);
  if (asset_changed) emit_event(asset_id, status == "expired" ? "asset.failed" : "asset.deleted", now_ms);
  tx.commit();
  if (asset_changed) MetadataStore::asset_changed(asset_id);
  return true;
}

std::string SqliteMetadataStore::complete_upload(const std::string& upload_id, int64_t source_bytes, int64_t now_ms) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  std::string asset_id;
  {
    Stmt s(*db_,
           "SELECT u.status, u.asset_id, a.status FROM uploads u JOIN assets a ON a.id = u.asset_id WHERE u.id = ?1");
    s.bind(1, upload_id);
    if (!s.step()) throw StoreError("upload " + upload_id + " not found");
    if (s.text(0) != "pending") throw StoreError("upload " + upload_id + " is not pending");
    if (s.text(2) != "waiting_upload")
      throw StoreError("upload " + upload_id + ": asset is " + s.text(2) + ", not waiting_upload");
    asset_id = s.text(1);
  }
  execute(*db_,
          "UPDATE uploads SET status = 'complete', completed_at_ms = ?2, receive_claim = NULL, receive_until_ms = NULL"
          " WHERE id = ?1",
          upload_id, now_ms);
  execute(*db_, "UPDATE assets SET status = 'queued', uploaded_at_ms = ?2, source_bytes = ?3 WHERE id = ?1", asset_id,
          now_ms, source_bytes);
  std::string job_id = core::new_id("job");
  execute(*db_,
          "INSERT INTO jobs (id, asset_id, kind, status, attempts, created_at_ms)"
          " VALUES (?1, ?2, 'transcode', 'queued', 0, ?3)",
          job_id, asset_id, now_ms);
  emit_event(asset_id, "asset.uploaded", now_ms);
  tx.commit();
  asset_changed(asset_id);
  return job_id;
}

std::string SqliteMetadataStore::create_import(const Asset& asset) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  execute(*db_,
          "INSERT INTO assets (id, status, visibility, owner_key_id, created_at_ms, account_id, input_url, name,"
          " source_filename) VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
          asset.id, asset.visibility, asset.owner_key_id, asset.created_at_ms, asset.account_id, asset.input_url,
          asset.name, asset.source_filename);
  std::string job_id = core::new_id("job");
  execute(*db_,
          "INSERT INTO jobs (id, asset_id, kind, status, attempts, created_at_ms)"
          " VALUES (?1, ?2, 'transcode', 'queued', 0, ?3)",
          job_id, asset.id, asset.created_at_ms);
  tx.commit();
  return job_id;
}

bool SqliteMetadataStore::mark_source_stored(const std::string& asset_id, int64_t source_bytes, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "uploaded_at_ms = ?2, source_bytes = ?3, input_url = NULL",
                           [&](Stmt& s) { s.bind(2, now_ms).bind(3, source_bytes); });
}

bool SqliteMetadataStore::set_asset_name(const std::string& asset_id, const std::optional<std::string>& name) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "name = ?2", [&](Stmt& s) { s.bind(2, name); });
}

bool SqliteMetadataStore::set_source_filename(const std::string& asset_id, const std::string& filename) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "source_filename = ?2", [&](Stmt& s) { s.bind(2, filename); });
}

bool SqliteMetadataStore::update_live_asset(const std::string& asset_id, std::string_view assignments,
                                            const std::function<void(Stmt&)>& bind) {
  Stmt s(*db_, "UPDATE assets SET " + std::string(assignments) + " WHERE id = ?1 AND status != 'deleted'");
  s.bind(1, asset_id);
  bind(s);
  s.run();
  const bool changed = db_->changes() > 0;
  // Under mu_ (every caller holds it), so a reader of the old row has finished and
  // the next one waits for the commit: notifying before it is safe, and a rolled-back
  // write only costs the caches a re-read.
  if (changed) asset_changed(asset_id);
  return changed;
}

bool SqliteMetadataStore::transition(const std::string& asset_id, std::string_view assignments,
                                     const std::function<void(Stmt&)>& bind, std::string_view new_status,
                                     std::string_view event_type, int64_t now_ms) {
  WriteTx tx(*db_);
  std::optional<std::string> before;
  {
    Stmt s(*db_, "SELECT status FROM assets WHERE id = ?1");
    s.bind(1, asset_id);
    if (s.step()) before = s.text(0);
  }
  const bool changed = update_live_asset(asset_id, assignments, bind);
  // A repeated transition (a re-run job marking playable again) is no new event.
  if (changed && before != new_status) emit_event(asset_id, event_type, now_ms);
  tx.commit();
  return changed;
}

bool SqliteMetadataStore::mark_processing(const std::string& asset_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "status = 'processing', processing_at_ms = ?2",
                           [&](Stmt& s) { s.bind(2, now_ms); });
}

bool SqliteMetadataStore::set_source_info(const std::string& asset_id, double duration_s, int width, int height) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "duration_s = ?2, width = ?3, height = ?4",
                           [&](Stmt& s) { s.bind(2, duration_s).bind(3, width).bind(4, height); });
}

bool SqliteMetadataStore::set_progress(const std::string& asset_id, double fraction) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "progress = ?2", [&](Stmt& s) { s.bind(2, std::clamp(fraction, 0.0, 1.0)); });
}

bool SqliteMetadataStore::publish_ladder(const std::string& asset_id, std::string_view status,
                                         std::string_view at_column, const std::vector<Tier>& tiers,
                                         const std::string& billing_tier, int64_t now_ms) {
  std::lock_guard lock(mu_);
  // The first time is the one that counts: a re-run job (its first worker died)
  // must not move playable_at later than when viewers could really start.
  std::string col(at_column);
  std::string done = status == "hls_ready" ? ", progress = 1" : "";
  return transition(
      asset_id, "status = ?2, tiers = ?3, billing_tier = ?4, " + col + " = COALESCE(" + col + ", ?5)" + done,
      [&](Stmt& s) { s.bind(2, status).bind(3, tiers_to_json(tiers)).bind(4, billing_tier).bind(5, now_ms); }, status,
      status == "hls_ready" ? "asset.ready" : "asset.playable", now_ms);
}

bool SqliteMetadataStore::mark_playable(const std::string& asset_id, const std::vector<Tier>& tiers,
                                        const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "playable", "playable_at_ms", tiers, billing_tier, now_ms);
}

bool SqliteMetadataStore::mark_hls_ready(const std::string& asset_id, const std::vector<Tier>& tiers,
                                         const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "hls_ready", "hls_ready_at_ms", tiers, billing_tier, now_ms);
}

bool SqliteMetadataStore::mark_failed(const std::string& asset_id, const std::string& code, const std::string& message,
                                      int64_t now_ms) {
  std::lock_guard lock(mu_);
  return transition(
      asset_id, "status = 'failed', error_code = ?2, error_message = ?3, failed_at_ms = ?4",
      [&](Stmt& s) { s.bind(2, code).bind(3, message).bind(4, now_ms); }, "failed", "asset.failed", now_ms);
}

bool SqliteMetadataStore::mark_deleted(const std::string& asset_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return transition(
      asset_id, "status = 'deleted', deleted_at_ms = ?2", [&](Stmt& s) { s.bind(2, now_ms); }, "deleted",
      "asset.deleted", now_ms);
}

std::optional<Job> SqliteMetadataStore::claim_job(const std::string& worker_id, int64_t lock_timeout_ms,
                                                  int64_t now_ms) {
  std::lock_guard lock(mu_);
  // IMMEDIATE: the SELECT and the UPDATE below must see the same row state even when
  // another process is claiming at the same moment.
  WriteTx tx(*db_);
  for (;;) {
    std::optional<Job> next;
    {
      Stmt pick(*db_,
                "SELECT id, asset_id, kind, attempts FROM jobs"
                " WHERE status = 'queued' OR (status = 'claimed' AND locked_until_ms < ?1)"
                " ORDER BY created_at_ms, id LIMIT 1");
      pick.bind(1, now_ms);
      if (pick.step())
        next = Job{pick.text(0), pick.text(1), pick.text(2), int(pick.int64(3)), worker_id, now_ms + lock_timeout_ms};
    }
    if (!next) break;
    Job& job = *next;

    if (job.attempts >= kMaxJobAttempts) {
      execute(*db_,
              "UPDATE jobs SET status = 'failed', error = ?2, locked_by = NULL, finished_at_ms = ?3 WHERE id = ?1",
              job.id, kLostTooOften, now_ms);
      if (update_live_asset(job.asset_id,
                            "status = 'failed', error_code = 'transcode_failed', error_message = ?2,"
                            " failed_at_ms = ?3",
                            [&](Stmt& s) { s.bind(2, kLostTooOften).bind(3, now_ms); }))
        emit_event(job.asset_id, "asset.failed", now_ms);
      core::log::warn("job_abandoned", {{"job_id", job.id}, {"asset_id", job.asset_id}, {"attempts", job.attempts}});
      continue;
    }

    job.attempts += 1;
    execute(*db_,
            "UPDATE jobs SET status = 'claimed', attempts = ?2, locked_by = ?3, locked_until_ms = ?4 WHERE id = ?1",
            job.id, job.attempts, worker_id, job.locked_until_ms);
    tx.commit();
    return job;
  }
  // Commits any jobs abandoned above even when nothing is left to hand out.
  tx.commit();
  return std::nullopt;
}

bool SqliteMetadataStore::heartbeat_job(const std::string& job_id, const std::string& worker_id,
                                        int64_t lock_timeout_ms, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return execute(*db_, "UPDATE jobs SET locked_until_ms = ?3 WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'",
                 job_id, worker_id, now_ms + lock_timeout_ms) > 0;
}

bool SqliteMetadataStore::release_job(const std::string& job_id, const std::string& worker_id) {
  std::lock_guard lock(mu_);
  return execute(
             *db_,
             "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), locked_by = NULL, locked_until_ms = 0"
             " WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'",
             job_id, worker_id) > 0;
}

bool SqliteMetadataStore::finish_job(const std::string& job_id, const std::string& worker_id, std::string_view status,
                                     const std::optional<std::string>& error, int64_t now_ms) {
  std::lock_guard lock(mu_);
  execute(*db_,
          "UPDATE jobs SET status = ?3, error = ?4, finished_at_ms = ?5"
          " WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'",
          job_id, worker_id, status, error, now_ms);
  if (db_->changes() > 0) return true;
  // The lock expired and another worker took the job over; its result wins.
  core::log::warn("job_finish_not_held", {{"job_id", job_id}, {"worker_id", worker_id}, {"status", status}});
  return false;
}

// complete_job and fail_job are finish_job with a status, as in the Postgres store: a
// deliberate pair (the interface names the two outcomes; each backend's SQL is in
// finish_job).
void SqliteMetadataStore::complete_job(const std::string& job_id, const std::string& worker_id, int64_t now_ms) {
  finish_job(job_id, worker_id, "done", std::nullopt, now_ms);
}

void SqliteMetadataStore::fail_job(const std::string& job_id, const std::string& worker_id, const std::string& reason,
                                   int64_t now_ms) {
  finish_job(job_id, worker_id, "failed", reason, now_ms);
}

std::vector<StoredMinutes> SqliteMetadataStore::stored_minutes() {
  std::lock_guard lock(mu_);
  // status alone excludes deleted assets (mark_deleted sets it); the deleted_at test
  // keeps that true should a status ever be written without it.
  Stmt s(*db_,
         "SELECT account_id, billing_tier, sum(duration_s) / 60.0 FROM assets"
         " WHERE status IN ('playable', 'hls_ready') AND deleted_at_ms IS NULL"
         " AND duration_s IS NOT NULL AND billing_tier != ''"
         " GROUP BY account_id, billing_tier ORDER BY account_id, billing_tier");
  std::vector<StoredMinutes> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.real(2)});
  return out;
}

int64_t SqliteMetadataStore::pending_job_count() {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'claimed')");
  s.step();
  return s.int64(0);
}

EdgeHeartbeat SqliteMetadataStore::heartbeat_edge(const EdgeNode& e, int64_t fresh_since_ms, uint64_t max_edges) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  auto outcome = EdgeHeartbeat::recorded;
  bool known = false;
  {
    Stmt s(*db_, "SELECT region, base_url, last_heartbeat_at FROM edge_nodes WHERE edge_id = ?1");
    s.bind(1, e.edge_id);
    if (s.step()) {
      known = true;
      if (s.text(0) != e.region || s.text(1) != e.base_url) {
        if (s.int64(2) >= fresh_since_ms) return EdgeHeartbeat::conflict;
        outcome = EdgeHeartbeat::taken_over;
      }
    }
  }
  if (!known) {
    auto count = [&] {
      Stmt s(*db_, "SELECT count(*) FROM edge_nodes");
      s.step();
      return static_cast<uint64_t>(s.int64(0));
    };
    if (count() >= max_edges) {
      execute(*db_, "DELETE FROM edge_nodes WHERE last_heartbeat_at < ?1", fresh_since_ms);
      if (count() >= max_edges) return EdgeHeartbeat::registry_full;
    }
  }
  execute(*db_,
          "INSERT INTO edge_nodes (edge_id, region, base_url, version, registered_at, last_heartbeat_at, cache_bytes,"
          " cache_objects) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)"
          " ON CONFLICT (edge_id) DO UPDATE SET region = excluded.region, base_url = excluded.base_url,"
          " version = excluded.version, last_heartbeat_at = excluded.last_heartbeat_at,"
          " cache_bytes = excluded.cache_bytes, cache_objects = excluded.cache_objects",
          e.edge_id, e.region, e.base_url, e.version, e.last_heartbeat_at_ms, e.cache_bytes, e.cache_objects);
  tx.commit();
  return outcome;
}

std::vector<EdgeNode> SqliteMetadataStore::list_edges() {
  std::lock_guard lock(mu_);
  Stmt s(*db_,
         "SELECT edge_id, region, base_url, version, registered_at, last_heartbeat_at, cache_bytes, cache_objects"
         " FROM edge_nodes ORDER BY edge_id");
  std::vector<EdgeNode> out;
  while (s.step())
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4), s.int64(5), s.int64(6), s.int64(7)});
  return out;
}

// ---- Webhooks ----

void SqliteMetadataStore::emit_event(const std::string& asset_id, std::string_view type, int64_t now_ms) {
  std::string account;
  {
    Stmt s(*db_, "SELECT account_id FROM assets WHERE id = ?1");
    s.bind(1, asset_id);
    if (!s.step()) return;
    account = s.text(0);
  }
  const std::string event_id = core::new_id("evt");
  execute(*db_,
          "INSERT INTO webhook_events (id, account_id, asset_id, type, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
          event_id, account, asset_id, type, now_ms);
  // Deliveries are written here, in the status change's transaction, rather than
  // fanned out later by the dispatcher: there is then no "not yet fanned out" state
  // to track and recover after a crash, and a webhook gets exactly the events that
  // happened while it existed. The cost is one indexed lookup per transition.
  std::vector<std::string> hooks;
  {
    Stmt s(*db_, "SELECT id FROM webhooks WHERE account_id = ?1 AND instr(events, ',' || ?2 || ',') > 0");
    s.bind(1, account).bind(2, type);
    while (s.step()) hooks.push_back(s.text(0));
  }
  for (const auto& hook : hooks)
    execute(*db_,
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, account_id, asset_id,"
            " event_created_at_ms, status, attempts, next_attempt_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending',"
            " 0, ?7)",
            core::new_id("dlv"), hook, event_id, type, account, asset_id, now_ms);
}

void SqliteMetadataStore::create_webhook(const Webhook& w) {
  std::lock_guard lock(mu_);
  // The foreign key refuses an unknown account.
  execute(*db_,
          "INSERT INTO webhooks (id, account_id, url, events, secret, previous_secret, previous_secret_until_ms,"
          " created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
          w.id, w.account_id, w.url, webhook_events_to_column(w.events), w.secret, w.previous_secret,
          w.previous_secret_until_ms, w.created_at_ms);
}

std::optional<Webhook> SqliteMetadataStore::get_webhook(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kWebhookColumns) + " FROM webhooks WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return webhook_from_row(s);
}

std::vector<Webhook> SqliteMetadataStore::list_webhooks(const std::string& account_id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_,
         "SELECT " + std::string(kWebhookColumns) + " FROM webhooks WHERE account_id = ?1 ORDER BY created_at_ms, id");
  s.bind(1, account_id);
  std::vector<Webhook> out;
  while (s.step()) out.push_back(webhook_from_row(s));
  return out;
}

bool SqliteMetadataStore::delete_webhook(const std::string& id) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  execute(*db_, "DELETE FROM webhook_deliveries WHERE webhook_id = ?1", id);
  const bool removed = execute(*db_, "DELETE FROM webhooks WHERE id = ?1", id) > 0;
  tx.commit();
  return removed;
}

bool SqliteMetadataStore::rotate_webhook_secret(const std::string& id, const std::string& new_secret,
                                                int64_t previous_until_ms) {
  std::lock_guard lock(mu_);
  // The right-hand sides read the row as it was: the current secret becomes the previous one.
  return execute(*db_,
                 "UPDATE webhooks SET previous_secret = secret, previous_secret_until_ms = ?3, secret = ?2"
                 " WHERE id = ?1",
                 id, new_secret, previous_until_ms) > 0;
}

bool SqliteMetadataStore::record_upload_expired(const std::string& upload_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  std::string asset_id;
  {
    Stmt s(*db_, "SELECT asset_id FROM uploads WHERE id = ?1");
    s.bind(1, upload_id);
    if (!s.step()) return false;
    asset_id = s.text(0);
  }
  emit_event(asset_id, "upload.expired", now_ms);
  tx.commit();
  return true;
}

std::vector<WebhookDelivery> SqliteMetadataStore::list_webhook_deliveries(const std::string& webhook_id, int limit) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kDeliveryColumns) +
                   " FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT ?2");
  s.bind(1, webhook_id).bind(2, std::clamp(limit, 1, kMaxPageSize));
  std::vector<WebhookDelivery> out;
  while (s.step()) out.push_back(delivery_from_row(s));
  return out;
}

std::optional<WebhookDelivery> SqliteMetadataStore::claim_webhook_delivery(const std::string& claimer, int64_t now_ms,
                                                                           int64_t lease_ms) {
  std::lock_guard lock(mu_);
  constexpr std::string_view kDue =
      "SELECT seq FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= ?1"
      " AND (claim_until_ms IS NULL OR claim_until_ms < ?1) ORDER BY seq LIMIT 1";
  // An idle dispatcher polls several times a second: look without the write lock
  // first, so polling never queues behind (or holds up) uploads and the worker.
  {
    Stmt peek(*db_, kDue);
    peek.bind(1, now_ms);
    if (!peek.step()) return std::nullopt;
  }
  // IMMEDIATE: the pick and the claim see one state even when another process is
  // claiming at the same moment (SQLite serializes writers on the file lock).
  WriteTx tx(*db_);
  int64_t seq = 0;
  {
    Stmt s(*db_, kDue);
    s.bind(1, now_ms);
    if (!s.step()) return std::nullopt;
    seq = s.int64(0);
  }
  execute(*db_, "UPDATE webhook_deliveries SET claimed_by = ?2, claim_until_ms = ?3 WHERE seq = ?1", seq, claimer,
          now_ms + lease_ms);
  Stmt s(*db_, "SELECT " + std::string(kDeliveryColumns) + " FROM webhook_deliveries WHERE seq = ?1");
  s.bind(1, seq);
  s.step();
  auto d = delivery_from_row(s);
  tx.commit();
  return d;
}

bool SqliteMetadataStore::finish_webhook_delivery(const std::string& delivery_id, const std::string& claimer,
                                                  const WebhookAttempt& a) {
  std::lock_guard lock(mu_);
  return execute(*db_,
                 "UPDATE webhook_deliveries SET status = ?3, attempts = attempts + 1, last_status_code = ?4,"
                 " last_latency_ms = ?5, last_error = ?6, last_attempt_at_ms = ?7, next_attempt_at_ms = ?8,"
                 " claimed_by = NULL, claim_until_ms = NULL WHERE id = ?1 AND claimed_by = ?2",
                 delivery_id, claimer, a.status, a.status_code, a.latency_ms, a.error, a.attempted_at_ms,
                 a.next_attempt_at_ms) > 0;
}

WebhookRetry SqliteMetadataStore::retry_webhook_delivery(const std::string& webhook_id, const std::string& delivery_id,
                                                         int64_t now_ms) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  {
    Stmt s(*db_, "SELECT claim_until_ms FROM webhook_deliveries WHERE id = ?1 AND webhook_id = ?2");
    s.bind(1, delivery_id).bind(2, webhook_id);
    if (!s.step()) return WebhookRetry::not_found;
    if (auto until = s.opt_int64(0); until && *until >= now_ms) return WebhookRetry::in_flight;
  }
  execute(*db_,
          "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at_ms = ?2, claimed_by = NULL,"
          " claim_until_ms = NULL WHERE id = ?1",
          delivery_id, now_ms);
  tx.commit();
  return WebhookRetry::queued;
}

}  // namespace rend::store::sqlite
