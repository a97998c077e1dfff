#pragma once
// The media worker (SPEC §1 `rend worker media`): claims queued jobs, probes the
// source, runs the pipeline, records every status transition, and asks the edge to
// warm the new asset.
//
// Error policy: every outcome of a job is a core::Status (media/errors.h is the
// taxonomy), and settle() is the one place it becomes a state transition:
//   OK         the asset is hls_ready, the job complete, the edges are warmed;
//   permanent  a verdict on the input (not a video, corrupt, too long, ffmpeg
//              failed on it, the source is missing): the asset fails with that
//              code and message, once;
//   retryable  infrastructure (a store threw, the object store refused a put, the
//              work dir or ffmpeg could not be created): the asset never fails for
//              it; the worker keeps the claim and sets its lock to expire after
//              retry_backoff_ms(attempt), after which any worker claims it again.
// Any exception escaping a job is treated as retryable (logged as job_error).
// Before settle(): an asset deleted meanwhile is cleaned up, a lost lock leaves
// everything to the new holder, and a stop (shutdown) releases the job.
//
// Retries and the attempt limit: every claim counts as an attempt, whether the
// previous one crashed (its lock expired) or hit an infrastructure error, and the
// store abandons a job claimed kMaxJobAttempts (5) times (asset `transcode_failed`,
// "worker lost too many times"). With the backoff schedule that is about 21 minutes
// of retries before giving up. A graceful shutdown releases the job instead
// (release_job: not an attempt).
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "billing/entitlements.h"
#include "billing/settings.h"

#include "core/clock.h"
#include "core/process.h"
#include "core/status.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"
#include "worker/settings.h"

namespace rend::worker {

inline constexpr int64_t kMaxRetryBackoffMs = 30 * 60 * 1000;
// Delay before a job that hit an infrastructure error on `attempt` (1-based) is
// claimable again.
int64_t retry_backoff_ms(int attempt);

// Asks whether an account may use a billing feature (billing::Entitlements::check in
// the roles; cached, local mode always allowed).
using EntitlementCheck = std::function<billing::Entitlement(const std::string& account, const std::string& feature)>;

class MediaWorker {
 public:
  MediaWorker(const Settings& cfg, store::MetadataStore& meta, store::ObjectStore& objects, store::Coordinator& coord,
              core::ProcessRunner& runner, const core::Clock& clock);

  // The ladder cap (issue 12): after probing, the storage features of `billing` are
  // asked through `check`, highest tier first, and the ladder stops at the highest
  // allowed one. Without this call there is no cap.
  void set_entitlements(const billing::Settings& billing, EntitlementCheck check);

  // Loops until `stop` is set: claim, process, wait for a wake-up or the poll interval.
  void run(const std::atomic<bool>& stop);
  // Claims and processes at most one job; returns whether there was one.
  bool run_once(const std::atomic<bool>& stop);

 private:
  void process(const store::Job& job, const std::atomic<bool>& stop);
  void settle(const store::Job& job, const core::Status& status, const std::vector<store::Tier>& tiers = {},
              const std::string& billing_tier = {});
  void warm_edge(const std::string& asset_id);
  // An import's first stage (worker/import.h): fetches input_url into sources/{id}
  // and records it. True to go on with the job; false when the job was settled,
  // released or left to another worker here.
  bool import_source(const store::Job& job, const store::Asset& asset, const std::atomic<bool>& stop);
  class LockKeeper;
  void retry_later(const store::Job& job, const std::string& code);
  void sweep_stale_work_dirs();
  // The highest tier the account may store, at most the source's own (so a 720p
  // source asks one feature); a retryable Status when Autumn cannot answer and the
  // failure policy is deny.
  std::variant<std::string, core::Status> allowed_tier(const std::string& account, int short_side);

  // The stores this role was given (as api::ApiDeps holds the API's): each role's own
  // bundle, deliberately not a shared struct, so a role names exactly what it uses.
  const Settings& cfg_;
  store::MetadataStore& meta_;
  store::ObjectStore& objects_;
  store::Coordinator& coord_;
  core::ProcessRunner& runner_;
  const core::Clock& clock_;
  const billing::Settings* billing_ = nullptr;
  EntitlementCheck check_;
};

}  // namespace rend::worker
