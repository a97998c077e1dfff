#pragma once
// The transcode job: source file -> HLS ladder in the object store, built for time
// to playable.
//
//   1. Fast path (H.264 8-bit 4:2:0, no rotation, AAC or no audio, <= 60 fps): the
//      source is remuxed without re-encoding into the `src/` rendition (a fraction of
//      a second), uploaded with a one-variant master.m3u8, and on_playable fires.
//      The remux runs on a helper thread concurrently with step 2.
//   2. Ladder: ONE ffmpeg process decodes once and encodes every rung (libx264,
//      veryfast, keyframes every segment_seconds) to HLS event playlists. While it
//      runs, completed segments are uploaded and each rung's playlist is re-uploaded
//      only after the segments it lists. Without the fast path, the first rendition
//      (an ultrafast encode of the lowest rung's first 4 s, next to the ladder, in
//      first/) gets a one-variant master and on_playable once its first 1 s segment
//      is up; its playlist then continues with the ladder's lowest rung (stages.h).
//   3. On success the final playlists (#EXT-X-ENDLIST), the final master.m3u8,
//      poster.jpg and (unless it failed: it is optional) the storyboard are in place.
//
// Object layout under assets/{asset_id}/: master.m3u8, {rung}/index.m3u8,
// {rung}/seg_00000.ts, poster.jpg, storyboard.vtt, storyboard/sheet_0001.jpg
// (media/storyboard.h), src/index.m3u8, src/seg_*.ts (fast path) or first/index.m3u8,
// first/seg_*.ts (first rendition) (both kept so players that loaded the early master
// keep working).
//
// Hooks are always called on the thread that called run(); on_playable is called
// exactly once when run() succeeds, always before run() returns.
//
// run() chains the stages in media/stages.h (probe, opener, ladder, master, poster,
// storyboard) with run_stages(); the first failing stage's Status is the result. The
// failure codes and which of them are retryable are in media/errors.h.
//
// Every ffmpeg run reads the source with the file protocol only and the demuxer the
// probe found forced (input_args), and writes with the file protocol only.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/process.h"
#include "core/status.h"
#include "media/ladder.h"
#include "media/probe.h"
#include "media/storyboard.h"
#include "store/metadata.h"
#include "store/objects.h"

namespace rend::media {

struct PipelineConfig {
  std::string ffmpeg_path = "ffmpeg", ffprobe_path = "ffprobe";
  std::string work_root;  // work files go to a PrivateWorkDir {work_root}/{asset_id}.XXXXXX
  std::chrono::milliseconds process_timeout{std::chrono::hours(6)};  // per ffmpeg process
  int segment_seconds = 4;
  // The ladder cap (issue 12): the highest billing tier the account may store
  // ("720p", "1080p", "2k"); empty or "4k": no cap. A source above it is encoded down
  // to it, never refused.
  std::string max_billing_tier;
};

struct PipelineHooks {
  std::function<void(const std::vector<store::Tier>&, const std::string& billing_tier)> on_playable;
  std::function<void()> on_tick;  // about every 1 s (the worker heartbeats its job lock)
  std::function<bool()> should_cancel;
  // Share of the ladder published so far, 0..0.99 (segments uploaded over the
  // segments expected from the duration); called as segments land.
  std::function<void(double)> on_progress;
};

struct PipelineResult {
  core::Status status;  // status.retryable: an infrastructure failure, try again later
  std::vector<store::Tier> tiers;
  std::string billing_tier;
  bool ok() const { return status.ok(); }
};

// A job's scratch directory: created with mkdtemp under `parent` (mode 0700, an
// unpredictable name starting with `prefix`), removed with everything in it when
// the object is destroyed, however the job ended. Throws on failure.
class PrivateWorkDir {
 public:
  PrivateWorkDir(const std::string& parent, const std::string& prefix);
  ~PrivateWorkDir();
  PrivateWorkDir(const PrivateWorkDir&) = delete;
  PrivateWorkDir& operator=(const PrivateWorkDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class Pipeline {
 public:
  Pipeline(PipelineConfig config, core::ProcessRunner& runner, store::ObjectStore& objects);
  PipelineResult run(const std::string& asset_id, const std::string& source_file, const SourceInfo& info,
                     const PipelineHooks& hooks);

 private:
  PipelineConfig cfg_;
  core::ProcessRunner& runner_;
  store::ObjectStore& objects_;
};

// ---- Exposed for tests ----

// Whether the source can be served as-is (remuxed) while the ladder encodes.
bool fast_path_eligible(const SourceInfo& info);

// The output frame rate for the ladder: the source rate snapped to a common rate
// (23.976, 24, 25, 29.97, 30, 50, 59.94, 60), halved while above 60.
// `expr` is ffmpeg syntax ("30000/1001"), `value` the number.
struct FrameRate {
  std::string expr;
  double value = 0;
};
FrameRate output_frame_rate(double source_fps);

// Nominal peak bandwidth of a rung (bit/s): (video + audio) * 1.1 for MPEG-TS overhead.
int64_t nominal_bandwidth(const Rung& rung);

// The single ffmpeg command producing the whole ladder into out_dir/{rung}/. With a
// `storyboard` plan (tiles > 0), the same decode also makes the storyboard's sheets in
// storyboard_dir (one more branch of the split, media/storyboard.h): a separate
// storyboard run would decode the whole source a second time while the ladder encodes.
// With a `poster_file`, it also writes the poster there (poster_seconds(), short side
// <= 720; another branch, written atomically): no seek and decode of its own.
std::vector<std::string> ladder_command(const std::string& ffmpeg_path, const std::string& source_file,
                                        const SourceInfo& info, const std::vector<Rung>& ladder,
                                        const std::string& out_dir, int segment_seconds,
                                        const StoryboardPlan* storyboard = nullptr,
                                        const std::string& storyboard_dir = {}, const std::string& poster_file = {});

// The poster: the picture at 1 s (mid-clip under 2 s), short side at most 720.
double poster_seconds(const SourceInfo& info);
void poster_size(const SourceInfo& info, int& width, int& height);

// The first rendition's own encode (sources without the fast path): the lowest rung's
// size, rate and audio, x264 ultrafast, the ladder's keyframe schedule, only the first
// `seconds` (the short segments before the ladder's grid), HLS into out_dir/. It runs
// next to the ladder and is done within about a second; the ladder's lowest rung
// continues its playlist from there (stages.h, FirstRendition).
std::vector<std::string> first_rendition_command(const std::string& ffmpeg_path, const std::string& source_file,
                                                 const SourceInfo& info, const Rung& rung, const std::string& out_dir,
                                                 int segment_seconds, double seconds);
// How much of the source the first rendition encodes: up to the ladder's first grid
// keyframe (4 s with 4 s segments), all of it when shorter.
double first_rendition_seconds(int segment_seconds, double duration_s);

// The last meaningful line of ffmpeg's stderr, with file system paths and pointer
// values removed; a generic message when there is none.
std::string ffmpeg_error_line(std::string_view err_tail, int exit_code);

}  // namespace rend::media
