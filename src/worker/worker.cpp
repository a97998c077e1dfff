#include "worker/worker.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "billing/tier.h"
#include "control/edge_control.h"
#include "core/log.h"
#include "media/errors.h"
#include "media/pipeline.h"
#include "media/probe.h"
#include "worker/import.h"

namespace fs = std::filesystem;

namespace rend::worker {

MediaWorker::MediaWorker(const Settings& cfg, store::MetadataStore& meta, store::ObjectStore& objects,
                         store::Coordinator& coord, core::ProcessRunner& runner, const core::Clock& clock)
    : cfg_(cfg), meta_(meta), objects_(objects), coord_(coord), runner_(runner), clock_(clock) {
  fs::create_directories(cfg_.work_dir);
  sweep_stale_work_dirs();
}

// A job's directory is removed when the job ends, but not when its worker was
// SIGKILLed or the machine lost power; those would fill the disk (each holds a
// source copy). Another worker may share the work dir, so only directories far
// older than any job can run are removed: a job's dir is written when it starts.
void MediaWorker::sweep_stale_work_dirs() {
  const int64_t max_age_s = 2 * int64_t(cfg_.process_timeout_secs) + int64_t(cfg_.lock_timeout_secs) + 3600;
  const int64_t now_s = clock_.now_unix();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cfg_.work_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("job-") || !e.is_directory(ec)) continue;
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || now_s - int64_t(st.st_mtime) < max_age_s) continue;
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    core::log::info("worker_removed_stale_work_dir", {{"name", name}, {"age_s", now_s - int64_t(st.st_mtime)}});
  }
}

void MediaWorker::set_entitlements(const billing::Settings& billing, EntitlementCheck check) {
  billing_ = &billing;
  check_ = std::move(check);
}

std::variant<std::string, core::Status> MediaWorker::allowed_tier(const std::string& account, int short_side) {
  const int top = billing::tier_index(billing::tier_for_height(short_side));
  for (int i = top; i > 0; --i) {
    auto e = check_(account, billing_->storage_features[size_t(i)]);
    if (e.outcome == billing::Entitlement::Outcome::allowed) return std::string(billing::kTiers[size_t(i)]);
    if (e.outcome == billing::Entitlement::Outcome::unavailable)
      return core::Status::transient("entitlement_unavailable",
                                     "The billing service could not confirm the account's plan.");
  }
  // The lowest tier is not asked: the upload was allowed on it, and a plan that lost
  // it since still gets its video, at the lowest tier (never failed for its size).
  return std::string(billing::kTiers[0]);
}

void MediaWorker::run(const std::atomic<bool>& stop) {
  core::log::info("worker_started", {{"worker_id", cfg_.worker_id}});
  while (!stop) {
    bool worked = false;
    try {
      worked = run_once(stop);
    } catch (const std::exception& e) {
      core::log::error("worker_claim_failed", {{"error", e.what()}});
    }
    if (!worked && !stop) coord_.wait_for_job(std::chrono::seconds(cfg_.poll_interval_secs));
  }
}

bool MediaWorker::run_once(const std::atomic<bool>& stop) {
  auto job = meta_.claim_job(cfg_.worker_id, int64_t(cfg_.lock_timeout_secs) * 1000, clock_.now_unix_ms());
  if (!job) return false;
  try {
    process(*job, stop);
  } catch (const std::exception& e) {
    // Infrastructure failure (a store threw, fork failed): never the input's fault.
    // The detail is logged here; the Status carries only the kind.
    core::log::error("job_error", {{"job_id", job->id}, {"asset_id", job->asset_id}, {"error", e.what()}});
    settle(*job, core::Status::transient("job_error", "The job was interrupted by an infrastructure error."));
  }
  return true;
}

int64_t retry_backoff_ms(int attempt) {
  // 15 s, 1 min, 4 min, 16 min, then 30 min: a store restart is over by the second
  // try; a longer outage still gets the full attempt budget spread over ~20 min.
  int64_t ms = 15'000;
  for (int i = 1; i < attempt && ms < kMaxRetryBackoffMs; ++i) ms *= 4;
  return std::min(ms, kMaxRetryBackoffMs);
}

void MediaWorker::retry_later(const store::Job& job, const std::string& code) {
  // Keep the claim and let its lock expire after the backoff: then any worker
  // claims the job again (a new attempt). Releasing instead would make it
  // claimable at once and not count the attempt, so a store that stays down would
  // be hammered forever. If this write fails too (the database is what is down),
  // the lock simply expires after the normal lock timeout.
  int64_t backoff = retry_backoff_ms(job.attempts);
  core::log::warn("job_retry_scheduled", {{"job_id", job.id},
                                          {"asset_id", job.asset_id},
                                          {"attempt", job.attempts},
                                          {"code", code},
                                          {"retry_in_ms", backoff}});
  try {
    meta_.heartbeat_job(job.id, cfg_.worker_id, backoff, clock_.now_unix_ms());
  } catch (const std::exception& e) {
    core::log::warn("job_retry_lock_failed", {{"job_id", job.id}, {"error", e.what()}});
  }
}

void MediaWorker::process(const store::Job& job, const std::atomic<bool>& stop) {
  const auto& id = job.asset_id;
  auto lock_ms = int64_t(cfg_.lock_timeout_secs) * 1000;
  auto asset = meta_.get_asset(id);
  // Deleted, or already finished by an earlier claim whose completion was lost.
  if (!asset || asset->status == "deleted" || asset->status == "hls_ready") {
    meta_.complete_job(job.id, cfg_.worker_id, clock_.now_unix_ms());
    return;
  }
  core::log::info("job_started", {{"job_id", job.id}, {"asset_id", id}, {"attempt", job.attempts}});
  // A re-claimed job may find its asset already playable: never move it back.
  if (asset->status == "queued") meta_.mark_processing(id, clock_.now_unix_ms());

  // An import from a URL fetches its source first; from then on the job is an upload's.
  if (asset->input_url && !asset->uploaded_at_ms && !import_source(job, *asset, stop)) return;

  // The job's own directory (mkdtemp, 0700): a second claim of the same asset (a
  // lock that expired under a slow worker) never shares files with this one, and it
  // is removed however the job ends.
  media::PrivateWorkDir work(cfg_.work_dir, "job-" + id);
  std::string source = (work.path() / "source").string();
  // Durations for "where does time to playable go" (bench/time_to_playable.py reads them).
  const auto copy_started = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count());
  };
  if (!objects_.get_to_file("sources/" + id, source))
    return settle(job, core::Status::permanent("source_missing", "the uploaded source is missing from object storage"));

  media::ProbeLimits limits;
  limits.max_duration_s = double(cfg_.max_duration_secs);
  if (cfg_.max_pixels) limits.max_pixels = int64_t(cfg_.max_pixels);
  if (cfg_.max_fps) limits.max_fps = double(cfg_.max_fps);
  const int64_t copy_ms = ms_since(copy_started);
  const auto probe_started = std::chrono::steady_clock::now();
  auto probed = media::probe(runner_, cfg_.ffprobe_path, source, limits, std::chrono::seconds(60));
  if (auto* f = std::get_if<media::MediaFailure>(&probed)) return settle(job, media::errors::from_probe(*f));
  const auto& info = std::get<media::SourceInfo>(probed);
  core::log::info("job_probed", {{"asset_id", id},
                                 {"copy_ms", copy_ms},
                                 {"probe_ms", ms_since(probe_started)},
                                 {"video_codec", info.video_codec},
                                 {"pix_fmt", info.pix_fmt}});
  meta_.set_source_info(id, info.duration_s, info.width, info.height);

  media::PipelineConfig pc;
  if (check_ && billing_) {
    auto tier = allowed_tier(asset->account_id, std::min(info.width, info.height));
    if (auto* st = std::get_if<core::Status>(&tier)) return settle(job, *st);
    pc.max_billing_tier = std::get<std::string>(tier);
    core::log::info("job_ladder_cap", {{"asset_id", id}, {"max_billing_tier", pc.max_billing_tier}});
  }
  pc.ffmpeg_path = cfg_.ffmpeg_path;
  pc.ffprobe_path = cfg_.ffprobe_path;
  pc.work_root = work.path().string();
  pc.process_timeout = std::chrono::seconds(cfg_.process_timeout_secs);
  media::Pipeline pipeline(pc, runner_, objects_);

  bool deleted = false, lost_lock = false;
  int64_t last_check = 0;
  media::PipelineHooks hooks;
  hooks.on_playable = [&](const std::vector<store::Tier>& tiers, const std::string& billing) {
    meta_.mark_playable(id, tiers, billing, clock_.now_unix_ms());
    core::log::info("asset_playable", {{"asset_id", id}});
  };
  hooks.on_tick = [&] {
    auto now = clock_.now_unix_ms();
    if (now - last_check < 1000) return;
    last_check = now;
    if (!meta_.heartbeat_job(job.id, cfg_.worker_id, lock_ms, now)) lost_lock = true;
    auto a = meta_.get_asset(id);
    if (!a || a->status == "deleted") deleted = true;
  };
  hooks.should_cancel = [&] { return stop.load() || deleted || lost_lock; };
  int64_t last_progress_at = 0;
  double last_progress = -1;
  hooks.on_progress = [&](double p) {
    // At most one write a second, and only when it moved a percent.
    auto now = clock_.now_unix_ms();
    if (p - last_progress < 0.01 || now - last_progress_at < 1000) return;
    last_progress = p;
    last_progress_at = now;
    meta_.set_progress(id, p);
  };

  auto result = pipeline.run(id, source, info, hooks);
  if (deleted || (!result.ok() && meta_.get_asset(id) && meta_.get_asset(id)->status == "deleted")) {
    // Deleted while we worked: remove whatever we published after the API's delete.
    objects_.delete_prefix("assets/" + id + "/");
    objects_.delete_prefix("sources/" + id);
    meta_.complete_job(job.id, cfg_.worker_id, clock_.now_unix_ms());
    core::log::info("job_cancelled_asset_deleted", {{"asset_id", id}});
    return;
  }
  if (lost_lock) {
    // Another worker owns the job now: leave everything to it.
    core::log::warn("job_lock_lost", {{"job_id", job.id}, {"asset_id", id}});
    return;
  }
  if (stop && !result.ok()) {
    // Shutting down: hand the job back so the next start picks it up at once
    // instead of waiting for the lock to expire.
    meta_.release_job(job.id, cfg_.worker_id);
    core::log::info("job_released_on_shutdown", {{"job_id", job.id}, {"asset_id", id}});
    return;
  }
  settle(job, result.status, result.tiers, result.billing_tier);
}

// Keeps a job's lock and watches its asset from a thread of its own while the job's
// thread is blocked in one long call (an import's fetch): heartbeats once a second,
// as the pipeline's on_tick does, and notes a deletion or a lost lock.
class MediaWorker::LockKeeper {
 public:
  LockKeeper(MediaWorker& w, const store::Job& job) : w_(w), job_(job), thread_([this] { loop(); }) {}
  ~LockKeeper() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::atomic<bool> deleted{false}, lost_lock{false};

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!w_.clock_.wait_for(lk, cv_, std::chrono::seconds(1), [&] { return done_; })) {
      lk.unlock();
      try {
        auto now = w_.clock_.now_unix_ms();
        if (!w_.meta_.heartbeat_job(job_.id, w_.cfg_.worker_id, int64_t(w_.cfg_.lock_timeout_secs) * 1000, now))
          lost_lock = true;
        auto a = w_.meta_.get_asset(job_.asset_id);
        if (!a || a->status == "deleted") deleted = true;
      } catch (const std::exception& e) {
        // The store is away: the lock may lapse, which the next heartbeat notices.
        core::log::warn("job_heartbeat_failed", {{"job_id", job_.id}, {"error", e.what()}});
      }
      lk.lock();
    }
  }
  MediaWorker& w_;
  const store::Job& job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: started once everything it reads exists
};

bool MediaWorker::import_source(const store::Job& job, const store::Asset& asset, const std::atomic<bool>& stop) {
  const auto& id = asset.id;
  // The URL may carry a signature (a presigned URL): logs name its host only.
  const std::string host = http::url_host_for_log(*asset.input_url);
  core::log::info("import_started", {{"job_id", job.id}, {"asset_id", id}, {"host", host}});
  ImportOptions opts;
  opts.policy = cfg_.outbound;
  opts.max_bytes = cfg_.max_source_bytes;
  opts.timeout = std::chrono::seconds(cfg_.import_timeout_secs);
  ImportResult r;
  bool deleted = false, lost_lock = false;
  {
    LockKeeper keeper(*this, job);
    r = fetch_source(*asset.input_url, "sources/" + id, objects_, opts,
                     [&] { return !stop && !keeper.deleted && !keeper.lost_lock; });
    deleted = keeper.deleted;
    lost_lock = keeper.lost_lock;
  }
  if (deleted) {
    objects_.delete_prefix("sources/" + id);  // a fetch that committed just before the delete was seen
    meta_.complete_job(job.id, cfg_.worker_id, clock_.now_unix_ms());
    core::log::info("job_cancelled_asset_deleted", {{"asset_id", id}});
    return false;
  }
  if (lost_lock) {
    core::log::warn("job_lock_lost", {{"job_id", job.id}, {"asset_id", id}});
    return false;
  }
  if (stop && !r.status.ok()) {
    meta_.release_job(job.id, cfg_.worker_id);
    core::log::info("job_released_on_shutdown", {{"job_id", job.id}, {"asset_id", id}});
    return false;
  }
  if (!r.status.ok()) {
    core::log::warn("import_failed", {{"job_id", job.id}, {"asset_id", id}, {"host", host}, {"code", r.status.code}});
    settle(job, r.status);
    return false;
  }
  meta_.mark_source_stored(id, int64_t(r.bytes), clock_.now_unix_ms());
  core::log::info("import_stored", {{"job_id", job.id}, {"asset_id", id}, {"host", host}, {"bytes", r.bytes}});
  return true;
}

void MediaWorker::settle(const store::Job& job, const core::Status& st, const std::vector<store::Tier>& tiers,
                         const std::string& billing_tier) {
  const auto& id = job.asset_id;
  if (st.retryable) {
    core::log::warn("job_infrastructure_error",
                    {{"job_id", job.id}, {"asset_id", id}, {"code", st.code}, {"message", st.message}});
    return retry_later(job, st.code);
  }
  if (!st.ok()) {
    core::log::warn("job_failed", {{"job_id", job.id}, {"asset_id", id}, {"code", st.code}, {"message", st.message}});
    meta_.mark_failed(id, st.code, st.message, clock_.now_unix_ms());
    meta_.fail_job(job.id, cfg_.worker_id, st.code, clock_.now_unix_ms());
    return;
  }
  meta_.mark_hls_ready(id, tiers, billing_tier, clock_.now_unix_ms());
  meta_.complete_job(job.id, cfg_.worker_id, clock_.now_unix_ms());
  core::log::info("asset_hls_ready", {{"asset_id", id}, {"billing_tier", billing_tier}});
  warm_edge(id);
}

// Best effort, off the job's critical path: a slow or absent edge only means the
// first viewer sees a MISS.
void MediaWorker::warm_edge(const std::string& asset_id) {
  for (const auto& url : control::control_urls(meta_, cfg_.edge_warm_urls, "/internal/warm", clock_.now_unix_ms(),
                                               cfg_.active_heartbeat_window_secs))
    control::notify_edge_async("edge_warm", url, cfg_.common.edge_internal_token, asset_id, std::chrono::seconds(30));
}

}  // namespace rend::worker
