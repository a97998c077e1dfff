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

// Column order shared by every asset SELECT and read_asset().
constexpr std::string_view kAssetColumns =
    "id, status, visibility, owner_key_id, duration_s, width, height, tiers, billing_tier, error_code, "
    "error_message, created_at_ms, uploaded_at_ms, processing_at_ms, playable_at_ms, hls_ready_at_ms, "
    "failed_at_ms, deleted_at_ms, expected_bytes, source_bytes, progress, account_id";

std::optional<int> opt_int(const Stmt& s, int col) {
  auto v = s.opt_int64(col);
  return v ? std::optional<int>(int(*v)) : std::nullopt;
}

Asset read_asset(const Stmt& s) {
  Asset a;
  a.id = s.text(0);
  a.status = s.text(1);
  a.visibility = s.text(2);
  a.owner_key_id = s.text(3);
  a.duration_s = s.opt_real(4);
  a.width = opt_int(s, 5);
  a.height = opt_int(s, 6);
  a.tiers = tiers_from_json(s.text(7));
  a.billing_tier = s.text(8);
  a.error_code = s.opt_text(9);
  a.error_message = s.opt_text(10);
  a.created_at_ms = s.int64(11);
  a.uploaded_at_ms = s.opt_int64(12);
  a.processing_at_ms = s.opt_int64(13);
  a.playable_at_ms = s.opt_int64(14);
  a.hls_ready_at_ms = s.opt_int64(15);
  a.failed_at_ms = s.opt_int64(16);
  a.deleted_at_ms = s.opt_int64(17);
  a.expected_bytes = s.opt_int64(18);
  a.source_bytes = s.opt_int64(19);
  a.progress = s.opt_real(20);
  a.account_id = s.text(21);
  return a;
}

// Column order shared by every api_keys SELECT and read_key(); the hash only when asked.
constexpr std::string_view kKeyColumns = "id, name, scopes, created_at_ms, revoked_at_ms, account_id";

ApiKey read_key(const Stmt& s) {
  ApiKey k;
  k.id = s.text(0);
  k.name = s.text(1);
  k.scopes = strings_from_json(s.text(2));
  k.created_at_ms = s.int64(3);
  k.revoked_at_ms = s.opt_int64(4);
  k.account_id = s.text(5);
  return k;
}

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
    Stmt(*db_, "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)")
        .bind(1, m.version)
        .bind(2, m.name)
        .bind(3, core::SystemClock().now_unix_ms())
        .run();
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
  Stmt(*db_,
       "INSERT INTO api_keys (id, name, secret_hash, scopes, created_at_ms, revoked_at_ms, account_id)"
       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
      .bind(1, key.id)
      .bind(2, key.name)
      .bind(3, key.secret_hash)
      .bind(4, strings_to_json(key.scopes))
      .bind(5, key.created_at_ms)
      .bind(6, key.revoked_at_ms)
      .bind(7, key.account_id)
      .run();
}

std::optional<ApiKey> SqliteMetadataStore::find_api_key_by_hash(const std::string& secret_hash) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kKeyColumns) + " FROM api_keys WHERE secret_hash = ?1");
  s.bind(1, secret_hash);
  if (!s.step()) return std::nullopt;
  auto k = read_key(s);
  k.secret_hash = secret_hash;
  return k;
}

std::vector<ApiKey> SqliteMetadataStore::list_api_keys(const std::optional<std::string>& account_id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT " + std::string(kKeyColumns) +
                   " FROM api_keys WHERE ?1 IS NULL OR account_id = ?1 ORDER BY created_at_ms, id");
  if (account_id) s.bind(1, *account_id);
  std::vector<ApiKey> out;
  while (s.step()) out.push_back(read_key(s));
  return out;
}

bool SqliteMetadataStore::revoke_api_key(const std::string& id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Stmt(*db_, "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL")
      .bind(1, id)
      .bind(2, now_ms)
      .run();
  return db_->changes() > 0;
}

void SqliteMetadataStore::create_upload(const Asset& asset, const Upload& upload) {
  std::lock_guard lock(mu_);
  WriteTx tx(*db_);
  Stmt(*db_,
       "INSERT INTO assets (id, status, visibility, owner_key_id, created_at_ms, expected_bytes, account_id)"
       " VALUES (?1, 'waiting_upload', ?2, ?3, ?4, ?5, ?6)")
      .bind(1, asset.id)
      .bind(2, asset.visibility)
      .bind(3, asset.owner_key_id)
      .bind(4, asset.created_at_ms)
      .bind(5, asset.expected_bytes)
      .bind(6, asset.account_id)
      .run();
  Stmt(*db_,
       "INSERT INTO uploads (id, asset_id, expected_bytes, status, created_at_ms)"
       " VALUES (?1, ?2, ?3, 'pending', ?4)")
      .bind(1, upload.id)
      .bind(2, asset.id)
      .bind(3, upload.expected_bytes)
      .bind(4, upload.created_at_ms)
      .run();
  tx.commit();
}

std::optional<Upload> SqliteMetadataStore::get_upload(const std::string& upload_id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, "SELECT id, asset_id, expected_bytes, status, created_at_ms FROM uploads WHERE id = ?1");
  s.bind(1, upload_id);
  if (!s.step()) return std::nullopt;
  return Upload{s.text(0), s.text(1), s.opt_int64(2), s.text(3), s.int64(4)};
}

std::optional<Asset> SqliteMetadataStore::get_asset(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt s(*db_, select_assets("id = ?1"));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_asset(s);
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
  while (s.step()) page.assets.push_back(read_asset(s));
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
  Stmt(*db_,
       "UPDATE uploads SET receive_claim = ?2, receive_until_ms = ?3 WHERE id = ?1 AND status = 'pending'"
       " AND (receive_claim IS NULL OR receive_until_ms < ?4)")
      .bind(1, upload_id)
      .bind(2, claim_id)
      .bind(3, now_ms + lease_ms)
      .bind(4, now_ms)
      .run();
  return db_->changes() > 0;
}

bool SqliteMetadataStore::renew_upload_claim(const std::string& upload_id, const std::string& claim_id,
                                             int64_t now_ms, int64_t lease_ms) {
  std::lock_guard lock(mu_);
  Stmt(*db_, "UPDATE uploads SET receive_until_ms = ?3 WHERE id = ?1 AND receive_claim = ?2 AND status = 'pending'")
      .bind(1, upload_id)
      .bind(2, claim_id)
      .bind(3, now_ms + lease_ms)
      .run();
  return db_->changes() > 0;
}

void SqliteMetadataStore::release_upload_claim(const std::string& upload_id, const std::string& claim_id) {
  std::lock_guard lock(mu_);
  Stmt(*db_, "UPDATE uploads SET receive_claim = NULL, receive_until_ms = NULL WHERE id = ?1 AND receive_claim = ?2")
      .bind(1, upload_id)
      .bind(2, claim_id)
      .run();
}

std::string SqliteMetadataStore::complete_upload(const std::string& upload_id, int64_t source_bytes,
                                                 int64_t now_ms) {
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
  Stmt(*db_,
       "UPDATE uploads SET status = 'complete', completed_at_ms = ?2, receive_claim = NULL, receive_until_ms = NULL"
       " WHERE id = ?1")
      .bind(1, upload_id)
      .bind(2, now_ms)
      .run();
  Stmt(*db_, "UPDATE assets SET status = 'queued', uploaded_at_ms = ?2, source_bytes = ?3 WHERE id = ?1")
      .bind(1, asset_id)
      .bind(2, now_ms)
      .bind(3, source_bytes)
      .run();
  std::string job_id = core::new_id("job");
  Stmt(*db_,
       "INSERT INTO jobs (id, asset_id, kind, status, attempts, created_at_ms)"
       " VALUES (?1, ?2, 'transcode', 'queued', 0, ?3)")
      .bind(1, job_id)
      .bind(2, asset_id)
      .bind(3, now_ms)
      .run();
  tx.commit();
  return job_id;
}

bool SqliteMetadataStore::update_live_asset(const std::string& asset_id, std::string_view assignments,
                                            const std::function<void(Stmt&)>& bind) {
  Stmt s(*db_, "UPDATE assets SET " + std::string(assignments) + " WHERE id = ?1 AND status != 'deleted'");
  s.bind(1, asset_id);
  bind(s);
  s.run();
  return db_->changes() > 0;
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
  return update_live_asset(asset_id,
                           "status = ?2, tiers = ?3, billing_tier = ?4, " + col + " = COALESCE(" + col + ", ?5)" + done,
                           [&](Stmt& s) {
                             s.bind(2, status).bind(3, tiers_to_json(tiers)).bind(4, billing_tier).bind(5, now_ms);
                           });
}

bool SqliteMetadataStore::mark_playable(const std::string& asset_id, const std::vector<Tier>& tiers,
                                        const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "playable", "playable_at_ms", tiers, billing_tier, now_ms);
}

bool SqliteMetadataStore::mark_hls_ready(const std::string& asset_id, const std::vector<Tier>& tiers,
                                         const std::string& billing_tier, int64_t now_ms) {
  return publish_ladder(asset_id, "hls_ready", "hls_ready_at_ms", tiers, billing_tier, now_ms);
}

bool SqliteMetadataStore::mark_failed(const std::string& asset_id, const std::string& code,
                                      const std::string& message, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "status = 'failed', error_code = ?2, error_message = ?3, failed_at_ms = ?4",
                           [&](Stmt& s) { s.bind(2, code).bind(3, message).bind(4, now_ms); });
}

bool SqliteMetadataStore::mark_deleted(const std::string& asset_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  return update_live_asset(asset_id, "status = 'deleted', deleted_at_ms = ?2", [&](Stmt& s) { s.bind(2, now_ms); });
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
      Stmt(*db_, "UPDATE jobs SET status = 'failed', error = ?2, locked_by = NULL, finished_at_ms = ?3 WHERE id = ?1")
          .bind(1, job.id)
          .bind(2, kLostTooOften)
          .bind(3, now_ms)
          .run();
      update_live_asset(job.asset_id, "status = 'failed', error_code = 'transcode_failed', error_message = ?2,"
                                      " failed_at_ms = ?3",
                        [&](Stmt& s) { s.bind(2, kLostTooOften).bind(3, now_ms); });
      core::log::warn("job_abandoned", {{"job_id", job.id}, {"asset_id", job.asset_id}, {"attempts", job.attempts}});
      continue;
    }

    job.attempts += 1;
    Stmt(*db_, "UPDATE jobs SET status = 'claimed', attempts = ?2, locked_by = ?3, locked_until_ms = ?4 WHERE id = ?1")
        .bind(1, job.id)
        .bind(2, job.attempts)
        .bind(3, worker_id)
        .bind(4, job.locked_until_ms)
        .run();
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
  Stmt(*db_, "UPDATE jobs SET locked_until_ms = ?3 WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'")
      .bind(1, job_id)
      .bind(2, worker_id)
      .bind(3, now_ms + lock_timeout_ms)
      .run();
  return db_->changes() > 0;
}

bool SqliteMetadataStore::release_job(const std::string& job_id, const std::string& worker_id) {
  std::lock_guard lock(mu_);
  Stmt(*db_,
       "UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), locked_by = NULL, locked_until_ms = 0"
       " WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'")
      .bind(1, job_id)
      .bind(2, worker_id)
      .run();
  return db_->changes() > 0;
}

bool SqliteMetadataStore::finish_job(const std::string& job_id, const std::string& worker_id,
                                     std::string_view status, const std::optional<std::string>& error,
                                     int64_t now_ms) {
  std::lock_guard lock(mu_);
  Stmt(*db_,
       "UPDATE jobs SET status = ?3, error = ?4, finished_at_ms = ?5"
       " WHERE id = ?1 AND locked_by = ?2 AND status = 'claimed'")
      .bind(1, job_id)
      .bind(2, worker_id)
      .bind(3, status)
      .bind(4, error)
      .bind(5, now_ms)
      .run();
  if (db_->changes() > 0) return true;
  // The lock expired and another worker took the job over; its result wins.
  core::log::warn("job_finish_not_held", {{"job_id", job_id}, {"worker_id", worker_id}, {"status", status}});
  return false;
}

void SqliteMetadataStore::complete_job(const std::string& job_id, const std::string& worker_id, int64_t now_ms) {
  finish_job(job_id, worker_id, "done", std::nullopt, now_ms);
}

void SqliteMetadataStore::fail_job(const std::string& job_id, const std::string& worker_id,
                                   const std::string& reason, int64_t now_ms) {
  finish_job(job_id, worker_id, "failed", reason, now_ms);
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
      Stmt(*db_, "DELETE FROM edge_nodes WHERE last_heartbeat_at < ?1").bind(1, fresh_since_ms).run();
      if (count() >= max_edges) return EdgeHeartbeat::registry_full;
    }
  }
  Stmt(*db_,
       "INSERT INTO edge_nodes (edge_id, region, base_url, version, registered_at, last_heartbeat_at, cache_bytes,"
       " cache_objects) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)"
       " ON CONFLICT (edge_id) DO UPDATE SET region = excluded.region, base_url = excluded.base_url,"
       " version = excluded.version, last_heartbeat_at = excluded.last_heartbeat_at,"
       " cache_bytes = excluded.cache_bytes, cache_objects = excluded.cache_objects")
      .bind(1, e.edge_id)
      .bind(2, e.region)
      .bind(3, e.base_url)
      .bind(4, e.version)
      .bind(5, e.last_heartbeat_at_ms)
      .bind(6, e.cache_bytes)
      .bind(7, e.cache_objects)
      .run();
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

}  // namespace rend::store::sqlite
