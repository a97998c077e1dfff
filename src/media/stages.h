#pragma once
// The transcode job's stages (Pipeline::run chains them; docs/media.md):
//
//   stage    initialize                 process                       flush
//   probe    check the probed input,    -                             -
//            plan the ladder, work dir
//   opener   start the remux thread     wait for the remux (<= 10 s), join the remux thread
//            (fast path only)           playable if it worked
//   ladder   rendition dirs             run the ladder ffmpeg,        final playlists
//                                       publish segments as they land;
//                                       the first rendition (lowest
//                                       rung) makes it playable
//   master   -                          -                             final master.m3u8
//   poster   -                          -                             make it with a run of its
//                                                                     own if the ladder's decode
//                                                                     made none
//   storyboard -                        -                             publish the sheets the
//                                                                     ladder's ffmpeg made, then
//                                                                     the VTT (a failure is logged,
//                                                                     never the job's)
//
// The remux (or the first rendition's encode) runs on its own thread concurrently with
// the ladder encode; the storyboard's sheets and the poster come out of the ladder's own
// decode (time to playable: the remux is ready in a fraction of a second while the
// ladder takes minutes). Hooks are only ever called on the caller's thread.
//
// Threading of JobContext: the inputs and the plan are read-only once the probe
// stage initialized; `abort`, `master` and `remux` are shared with
// the helper threads (atomics or their own mutex); everything else is the
// caller's thread's only.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/process.h"
#include "core/status.h"
#include "hls/playlist.h"
#include "media/ladder.h"
#include "media/pipeline.h"
#include "media/probe.h"
#include "media/stage.h"
#include "media/storyboard.h"
#include "store/objects.h"

namespace rend::media::stages {

using SteadyClock = std::chrono::steady_clock;

// One HLS rendition being published from a local directory to the store.
struct Rendition {
  std::string name;           // "720p" or "src"
  std::filesystem::path dir;  // local
  std::string key_prefix;     // assets/{id}/{name}/
  size_t uploaded = 0;        // segments uploaded (in playlist order)
  std::string last_playlist;
  bool playlist_uploaded = false;
  bool ended = false;
  std::vector<double> durations;
  std::vector<uint64_t> sizes;
  std::vector<std::string> uris;  // the uploaded segments' names
  // false: segments only; the caller writes the playlist (the first rendition's).
  bool own_playlist = true;

  Rendition(std::string n, std::filesystem::path d, std::string k)
      : name(std::move(n)), dir(std::move(d)), key_prefix(std::move(k)) {}

  // Uploads newly listed segments, then the playlist if every segment it lists is up.
  // `final`: the writer has exited, everything listed must exist. Throws StageError
  // for a bad output, anything else when the store fails.
  void publish(store::ObjectStore& objects, bool final, const std::function<void()>& between);
  // {peak, average} bit/s over the uploaded segments.
  std::pair<int64_t, int64_t> measured_bandwidth() const;
};

// A stage's failure thrown from deep inside its work (Rendition::publish) and turned
// back into the Status at the stage's boundary.
struct StageError : std::runtime_error {
  core::Status status;
  explicit StageError(core::Status s) : std::runtime_error(s.message), status(std::move(s)) {}
};

// Which master.m3u8 is in the store. The remux thread and the caller's thread both
// write it: the first playable rendition's master wins, the final one replaces it.
class MasterSlot {
 public:
  // fast: src/ (the remux); first_rendition: the ladder's lowest rung alone.
  enum class Kind { none, fast, first_rendition, final };
  // Writes `text` only while there is no master yet; returns whether it did.
  bool write_first(store::ObjectStore& objects, const std::string& key, const std::string& text, Kind kind);
  void write_final(store::ObjectStore& objects, const std::string& key, const std::string& text);

 private:
  std::mutex mu_;
  Kind kind_ = Kind::none;
};

// The fast-path remux's outcome, set by the opener's thread.
class RemuxSignal {
 public:
  void set_ready();  // the remuxed rendition and its master are in the store
  void set_done();   // the remux finished, failed or did not apply (always set)
  bool ready() const;
  bool done() const;
  // Waits at most `d` for done().
  void wait_done_for(std::chrono::milliseconds d);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false, done_ = false;
};

// The first rendition of a source without the fast path (issue 17): its own ultrafast
// encode of the lowest rung covers the short first segments (0-4 s), published as
// first/seg_*.ts with a one-variant master → playable within about a second; the
// playlist first/index.m3u8 (written here, EVENT) then continues with the ladder's
// lowest-rung segments from the same time on (`../360p/seg_00003.ts`, after an
// #EXT-X-DISCONTINUITY: another encoder), and ends with it. A player that loaded the
// early master plays to the end without switching playlists. If that encode fails
// before its first segment, the ladder's lowest rung alone is the first rendition.
// The caller's thread only, except `encode` (set by the opener's thread).
struct FirstRendition {
  explicit FirstRendition(Rendition r) : fast(std::move(r)) { fast.own_playlist = false; }
  Rendition fast;         // the ultrafast encode's segments (first/)
  RemuxSignal encode;     // ready: ffmpeg exited 0; done: it ended (or never ran)
  std::string last_text;  // first/index.m3u8 as last uploaded
  bool broken = false;    // its output was unusable: publish no more of it

  // first/index.m3u8: the fast segments, then (`join`: the encode is over and every
  // segment of it that will ever be is uploaded) the ladder rung's uploaded segments
  // starting where the fast ones end; ENDLIST once `rung` ended.
  std::string playlist(const Rendition& rung, const std::string& rung_dir, int segment_seconds, bool join) const;
};

// Everything the stages share; built by Pipeline::run, outlives the stages.
struct JobContext {
  JobContext(const PipelineConfig& cfg, core::ProcessRunner& runner, store::ObjectStore& objects,
             const PipelineHooks& hooks, const std::string& asset_id, const std::string& source_file,
             const SourceInfo& info)
      : cfg(cfg),
        runner(runner),
        objects(objects),
        hooks(hooks),
        asset_id(asset_id),
        source_file(source_file),
        info(info) {}

  // Inputs.
  const PipelineConfig& cfg;
  core::ProcessRunner& runner;
  store::ObjectStore& objects;
  const PipelineHooks& hooks;
  const std::string& asset_id;
  const std::string& source_file;
  const SourceInfo& info;
  const SteadyClock::time_point started = SteadyClock::now();

  // The plan: written by the probe stage's initialize, read-only after it.
  std::vector<Rung> ladder;
  std::string billing_tier;
  std::string prefix;  // assets/{asset_id}/
  FrameRate out_fps;
  bool fast = false;  // fast_path_eligible(info)
  std::unique_ptr<PrivateWorkDir> work;
  std::filesystem::path ladder_dir, src_dir, poster_file, storyboard_dir, first_dir;
  StoryboardPlan storyboard;  // tiles == 0: none (no duration or size)

  // Reported to on_playable and returned: nominal bandwidths until the master
  // stage's flush stores the measured ones.
  std::vector<store::Tier> tiers;

  // Shared with the helper threads.
  std::atomic<bool> abort{false};  // stops every running ffmpeg: a failure, or run() ending
  MasterSlot master;
  RemuxSignal remux;
  std::atomic<bool> poster_done{false};
  std::unique_ptr<FirstRendition> first;  // without the fast path (probe stage)

  // The caller's thread only.
  std::vector<Rendition> rends;  // the ladder's renditions (ladder stage)
  bool cancelled = false;        // should_cancel said stop

  // on_playable, once (logs media.playable).
  void notify_playable();
  bool playable_notified() const { return playable_called_; }
  // on_tick, at most once a second.
  void tick();
  // Whether a running ffmpeg must stop: abort, or should_cancel (polled at most
  // every 250 ms; a yes sets `cancelled` and `abort`).
  bool should_stop();
  int64_t ms_since_start() const;

 private:
  bool playable_called_ = false;
  SteadyClock::time_point last_tick_ = SteadyClock::now();
  SteadyClock::time_point last_cancel_check_{};
};

// The input checks and the plan: the asset id is usable as a key, the ladder has a
// rung, the demuxer is an allowed one; then the job's private work dir.
class ProbeStage final : public Stage {
 public:
  explicit ProbeStage(JobContext& ctx) : ctx_(ctx) {}
  const char* name() const override { return "probe"; }
  core::Status initialize() override;

 private:
  JobContext& ctx_;
};

// The fast path: `-c copy` remux to src/, published with a one-variant master, on
// its own thread. The ladder waits for it (at most 10 s) before starting.
// Without it: the first rendition's ultrafast encode, on its own thread next to the
// ladder (LadderStage publishes it).
class OpenerStage final : public Stage {
 public:
  explicit OpenerStage(JobContext& ctx) : ctx_(ctx) {}
  ~OpenerStage() override;
  const char* name() const override { return "opener"; }
  core::Status initialize() override;
  core::Status process() override;
  core::Status flush() override;

 private:
  void remux();
  void encode_first();
  JobContext& ctx_;
  std::thread thread_;
};

// The ladder encode (one ffmpeg for every rung) and its publisher: on every tick,
// finished segments, then playlists, then progress. Without the fast path, the first
// rendition (FirstRendition, published first) gets a one-variant master and
// on_playable as soon as it has a segment.
class LadderStage final : public Stage {
 public:
  explicit LadderStage(JobContext& ctx) : ctx_(ctx) {}
  const char* name() const override { return "ladder"; }
  core::Status initialize() override;
  core::Status process() override;
  core::Status flush() override;

 private:
  void publish_progress();
  void publish_poster();
  void publish_first_rendition();
  void publish_rung_as_first();
  JobContext& ctx_;
};

// The final master.m3u8: measured bandwidths, replacing the fast or partial one.
class MasterStage final : public Stage {
 public:
  explicit MasterStage(JobContext& ctx) : ctx_(ctx) {}
  const char* name() const override { return "master"; }
  core::Status flush() override;

 private:
  JobContext& ctx_;
};

// poster.jpg: the ladder's decode makes it (one more branch of its split, published by
// LadderStage as soon as it is written); only if it did not, flush makes it with a run
// of its own (a seek to the poster's time, or to 0 if that fails).
class PosterStage final : public Stage {
 public:
  explicit PosterStage(JobContext& ctx) : ctx_(ctx) {}
  const char* name() const override { return "poster"; }
  core::Status flush() override;

 private:
  bool make_poster(double at_s);
  void poster_with_fallback();
  JobContext& ctx_;
};

// storyboard.vtt and storyboard/sheet_NNNN.jpg (media/storyboard.h): the ladder's ffmpeg
// makes the sheets from the frames it decodes anyway (one more branch of its split; a
// run of its own decoded the whole source a second time, next to the ladder: 2-4 CPU-s
// for 30 s of 1080p, 5-7 % of the ladder's CPU). flush publishes the sheets, then the
// VTT that points at them. Optional: no sheet, or the store refusing one, is logged as
// media_storyboard_failed and the asset still becomes hls_ready, without a storyboard
// (the player shows no previews).
class StoryboardStage final : public Stage {
 public:
  explicit StoryboardStage(JobContext& ctx) : ctx_(ctx) {}
  const char* name() const override { return "storyboard"; }
  core::Status flush() override;

 private:
  JobContext& ctx_;
};

// The variants of the ladder master: nominal bandwidths, or measured ones.
std::vector<hls::Variant> ladder_variants(const JobContext& ctx, bool measured);

bool valid_segment_name(std::string_view s);

}  // namespace rend::media::stages
