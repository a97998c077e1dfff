#pragma once
// The media worker (SPEC §1 `rend worker media`): claims queued jobs, probes the
// source, runs the pipeline, records every status transition, and asks the edge to
// warm the new asset.
//
// Error policy: each job runs inside one try/catch. A refusal the user caused (not
// a video, corrupt, too long) fails the asset with a reason; an infrastructure error
// (store down, disk full) leaves the job claimed so that it is retried after the
// lock times out, up to the store's attempt limit.
#include <atomic>
#include <memory>

#include "core/clock.h"
#include "core/config.h"
#include "core/process.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"

namespace rend::worker {

class MediaWorker {
 public:
  MediaWorker(const core::WorkerConfig& cfg, store::MetadataStore& meta, store::ObjectStore& objects,
              store::Coordinator& coord, core::ProcessRunner& runner, const core::Clock& clock);

  // Loops until `stop` is set: claim, process, wait for a wake-up or the poll interval.
  void run(const std::atomic<bool>& stop);
  // Claims and processes at most one job; returns whether there was one.
  bool run_once(const std::atomic<bool>& stop);

 private:
  void process(const store::Job& job, const std::atomic<bool>& stop);
  void warm_edge(const std::string& asset_id);

  const core::WorkerConfig& cfg_;
  store::MetadataStore& meta_;
  store::ObjectStore& objects_;
  store::Coordinator& coord_;
  core::ProcessRunner& runner_;
  const core::Clock& clock_;
};

}  // namespace rend::worker
