#include "media/pipeline.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "core/log.h"
#include "hls/playlist.h"
#include "media/errors.h"
#include "media/stages.h"

namespace rend::media {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- helpers

bool fast_path_eligible(const SourceInfo& info) {
  static const char* kProfiles[] = {"Baseline", "Constrained Baseline", "Main", "High"};
  bool profile_ok =
      std::any_of(std::begin(kProfiles), std::end(kProfiles), [&](const char* p) { return info.profile == p; });
  return info.video_codec == "h264" && (info.pix_fmt == "yuv420p" || info.pix_fmt == "yuvj420p") &&
         info.rotation == 0 && profile_ok && (!info.has_audio || info.audio_codec == "aac") && info.fps > 0 &&
         info.fps <= 60.5 && info.width > 0 && info.height > 0;
}

FrameRate output_frame_rate(double fps) {
  if (!(fps > 0) || !std::isfinite(fps)) fps = 30;
  while (fps > 60.5) fps /= 2;
  struct Known {
    const char* expr;
    double value;
  };
  static const Known kKnown[] = {{"24000/1001", 24000.0 / 1001}, {"24", 24}, {"25", 25},
                                 {"30000/1001", 30000.0 / 1001}, {"30", 30}, {"50", 50},
                                 {"60000/1001", 60000.0 / 1001}, {"60", 60}};
  const Known* best = nullptr;
  for (const auto& k : kKnown)
    if (std::fabs(fps - k.value) / k.value < 0.015 &&
        (!best || std::fabs(fps - k.value) < std::fabs(fps - best->value)))
      best = &k;
  if (best) return {best->expr, best->value};
  int r = std::max(1, int(std::lround(fps)));
  return {std::to_string(r), double(r)};
}

int64_t nominal_bandwidth(const Rung& r) { return int64_t(std::llround((r.video_kbps + r.audio_kbps) * 1000.0 * 1.1)); }

double poster_seconds(const SourceInfo& info) { return info.duration_s >= 2.0 ? 1.0 : info.duration_s / 2; }

void poster_size(const SourceInfo& info, int& w, int& h) {
  int s = std::min(info.width, info.height);
  double scale = s > 720 ? 720.0 / s : 1.0;
  w = std::max(2, int(std::lround(info.width * scale / 2.0)) * 2);
  h = std::max(2, int(std::lround(info.height * scale / 2.0)) * 2);
}

std::vector<std::string> ladder_command(const std::string& ffmpeg_path, const std::string& source_file,
                                        const SourceInfo& info, const std::vector<Rung>& ladder,
                                        const std::string& out_dir, int seg, const StoryboardPlan* storyboard,
                                        const std::string& storyboard_dir, const std::string& poster_file) {
  FrameRate fr = output_frame_rate(info.fps);
  size_t n = ladder.size();
  const bool sheets = storyboard && storyboard->tiles > 0 && !storyboard_dir.empty();
  const bool poster = !poster_file.empty() && info.width > 0 && info.height > 0;
  auto size = [](int w, int h) { return "scale=" + std::to_string(w) + ":" + std::to_string(h) + ",setsar=1"; };
  auto rung_size = [&](size_t i) { return size(ladder[i].width, ladder[i].height); };
  // One conversion to the encoders' 8-bit 4:2:0 before the split (a no-op for such
  // sources), not one per branch. The top rung (the source's size: scale passes its
  // frames through) and the second are scaled from the source; every lower rung from
  // the second's frames (1080p -> 720p -> 540p/360p): less to read per output pixel,
  // ~20 % less scaling CPU, and SSIM >= 0.997 against scaling each from the source
  // (1080p bench clips, 720p and 4K sources; bench/README.md).
  const size_t top = std::min<size_t>(n, 2) + (sheets ? 1 : 0) + (poster ? 1 : 0);
  std::string graph = "[0:V:0]fps=" + fr.expr + ",format=yuv420p,split=" + std::to_string(top);
  for (size_t i = 0; i < top; ++i) graph += "[s" + std::to_string(i) + "]";
  size_t next = 0;
  graph += ";[s" + std::to_string(next++) + "]" + rung_size(0) + "[v0]";
  if (n > 1) {
    graph += ";[s" + std::to_string(next++) + "]" + rung_size(1);
    if (n > 2) {
      graph += ",split=" + std::to_string(n - 1) + "[v1]";
      for (size_t i = 2; i < n; ++i) graph += "[c" + std::to_string(i) + "]";
      for (size_t i = 2; i < n; ++i)
        graph += ";[c" + std::to_string(i) + "]" + rung_size(i) + "[v" + std::to_string(i) + "]";
    } else {
      graph += "[v1]";
    }
  }
  if (sheets) graph += ";[s" + std::to_string(next++) + "]" + storyboard_filter(*storyboard) + "[sb]";
  if (poster) {
    // One frame of the branch; trim ends the branch after it (split then drops it), so
    // no frame waits for a sink that takes no more.
    int64_t frame = std::llround(poster_seconds(info) * fr.value);
    int w, h;
    poster_size(info, w, h);
    graph += ";[s" + std::to_string(next++) + "]trim=start_frame=" + std::to_string(frame) +
             ":end_frame=" + std::to_string(frame + 1) + "," + size(w, h) + "[po]";
  }

  std::vector<std::string> a = {ffmpeg_path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"};
  auto in = input_args(info.demuxer, source_file);
  a.insert(a.end(), in.begin(), in.end());
  a.insert(a.end(), {"-filter_complex", graph});
  // The sheets' output first: every option after it (codecs, rates, keyframes) is the
  // HLS output's, and the HLS playlist stays the last argument.
  if (sheets) {
    auto out = storyboard_output_args("[sb]", storyboard_dir);
    a.insert(a.end(), out.begin(), out.end());
  }
  if (poster)
    a.insert(a.end(), {"-map", "[po]", "-c:v", "mjpeg", "-q:v", "3", "-frames:v", "1", "-f", "image2", "-update", "1",
                       "-atomic_writing", "1", "-protocol_whitelist", "file", poster_file});
  for (size_t i = 0; i < n; ++i) {
    a.insert(a.end(), {"-map", "[v" + std::to_string(i) + "]"});
    if (info.has_audio) a.insert(a.end(), {"-map", "0:a:0"});
  }
  int gop = std::max(1, int(std::lround(fr.value * seg)));
  // Keyframes at 0 1 2 s, then on the segment grid (keyframe_times), identical in
  // every rung; no scene-cut keyframes, so the keyframes are exactly the cuts.
  a.insert(a.end(), {"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p", "-g",
                     std::to_string(gop), "-sc_threshold", "0", "-force_key_frames", force_key_frames_expr(seg),
                     "-fps_mode:v", "cfr"});
  for (size_t i = 0; i < n; ++i) {
    std::string s = std::to_string(i);
    int k = ladder[i].video_kbps;
    a.insert(a.end(), {"-level:v:" + s, ladder[i].h264_level, "-b:v:" + s, std::to_string(k) + "k", "-maxrate:v:" + s,
                       std::to_string(k) + "k", "-bufsize:v:" + s, std::to_string(2 * k) + "k"});
  }
  if (info.has_audio) {
    a.insert(a.end(), {"-c:a", "aac", "-ac", "2", "-ar", "48000"});
    for (size_t i = 0; i < n; ++i)
      a.insert(a.end(), {"-b:a:" + std::to_string(i), std::to_string(ladder[i].audio_kbps) + "k"});
  }
  std::string map;
  for (size_t i = 0; i < n; ++i) {
    if (i) map += " ";
    map += "v:" + std::to_string(i);
    if (info.has_audio) map += ",a:" + std::to_string(i);
    map += ",name:" + ladder[i].name;
  }
  // -hls_time 1: the muxer cuts at every keyframe at least 1 s after the last cut,
  // i.e. at every keyframe above. (-hls_init_time would not do: with an unbounded
  // playlist, ffmpeg 5.1 never leaves the initial segment length.)
  a.insert(a.end(), {"-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "event", "-hls_flags",
                     "temp_file+independent_segments", "-hls_segment_type", "mpegts", "-hls_segment_filename",
                     out_dir + "/%v/seg_%05d.ts", "-var_stream_map", map, "-protocol_whitelist", "file",
                     out_dir + "/%v/index.m3u8"});
  return a;
}

double first_rendition_seconds(int seg, double duration_s) {
  // keyframe_times: the first keyframe after the short ones is the grid's first, at seg.
  double grid = double(std::max(1, seg));
  return duration_s > 0 ? std::min(grid, duration_s) : grid;
}

std::vector<std::string> first_rendition_command(const std::string& ffmpeg_path, const std::string& source_file,
                                                 const SourceInfo& info, const Rung& rung, const std::string& out_dir,
                                                 int seg, double seconds) {
  FrameRate fr = output_frame_rate(info.fps);
  // A 360p-ish preview of 4 s: the decoder's cheap options (decode is ~2/3 of this
  // run's CPU). Without the loop filter (H.264, HEVC; others ignore it) and with the
  // H.264 decoder's non-compliant speedups, the picture differs little once scaled
  // down 3x (SSIM 0.995 against a full decode for the 1080p HEVC bench clip): -7 % of
  // this run's CPU there.
  std::vector<std::string> a = {ffmpeg_path, "-hide_banner",      "-nostdin", "-nostats", "-loglevel", "error",
                                "-y",        "-skip_loop_filter", "all",      "-flags2",  "+fast"};
  auto in = input_args(info.demuxer, source_file);
  a.insert(a.end(), in.begin(), in.end());
  char t[32];
  std::snprintf(t, sizeof t, "%.3f", seconds);
  a.insert(a.end(), {"-t", t, "-map", "0:V:0"});
  if (info.has_audio) a.insert(a.end(), {"-map", "0:a:0"});
  const std::string k = std::to_string(rung.video_kbps);
  int gop = std::max(1, int(std::lround(fr.value * seg)));
  // The same frame rate, size and keyframes as the ladder's rung, so its segments
  // continue this playlist where these end. ultrafast: ~10x faster than the ladder's
  // veryfast, for a few seconds of the lowest rung. Area averaging: a third of the
  // default bicubic's CPU for a 3x downscale (0.09 against 0.23 CPU-s for 4 s of
  // 1080p), a slightly softer preview (SSIM 0.99 against bicubic).
  a.insert(a.end(), {"-vf",
                     "fps=" + fr.expr + ",scale=" + std::to_string(rung.width) + ":" + std::to_string(rung.height) +
                         ":flags=area,setsar=1",
                     "-c:v",
                     "libx264",
                     "-preset",
                     "ultrafast",
                     "-pix_fmt",
                     "yuv420p",
                     "-g",
                     std::to_string(gop),
                     "-sc_threshold",
                     "0",
                     "-force_key_frames",
                     force_key_frames_expr(seg),
                     "-fps_mode:v",
                     "cfr",
                     "-b:v",
                     k + "k",
                     "-maxrate:v",
                     k + "k",
                     "-bufsize:v",
                     std::to_string(2 * rung.video_kbps) + "k"});
  if (info.has_audio)
    a.insert(a.end(), {"-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", std::to_string(rung.audio_kbps) + "k"});
  a.insert(a.end(), {"-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "event", "-hls_flags",
                     "temp_file+independent_segments", "-hls_segment_type", "mpegts", "-hls_segment_filename",
                     out_dir + "/seg_%05d.ts", "-protocol_whitelist", "file", out_dir + "/index.m3u8"});
  return a;
}

std::string ffmpeg_error_line(std::string_view err, int exit_code) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : err) {
    if (c == '\n' || c == '\r') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  lines.push_back(cur);
  static const std::regex kPtr(R"( @ 0x[0-9a-fA-F]+)");
  static const std::regex kPath(R"((file:)?(/[^\s'",:;]+)+)");
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string l = *it;
    auto b = l.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    l = l.substr(b, l.find_last_not_of(" \t") - b + 1);
    if (l == "Conversion failed!" || l.starts_with("Last message repeated") || l.starts_with("frame=") ||
        l.starts_with("size=") || l.starts_with("video:") || l.starts_with("Exiting normally") ||
        l.starts_with("Press [q]"))
      continue;
    l = std::regex_replace(l, kPtr, "");
    l = std::regex_replace(l, kPath, "<file>");
    if (l.size() > 300) l = l.substr(0, 300) + "...";
    return l;
  }
  return "ffmpeg exited with code " + std::to_string(exit_code);
}

// ---------------------------------------------------------------- PrivateWorkDir

PrivateWorkDir::PrivateWorkDir(const std::string& parent, const std::string& prefix) {
  fs::create_directories(parent);
  // mkdtemp creates the directory with mode 0700 and a name nobody can predict, so
  // neither another job (a re-claim of the same asset) nor another local user can
  // read, replace or pre-create files in it.
  std::string tmpl = (fs::path(parent) / (prefix + ".XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = buf.data();
}

PrivateWorkDir::~PrivateWorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------- Pipeline

Pipeline::Pipeline(PipelineConfig config, core::ProcessRunner& runner, store::ObjectStore& objects)
    : cfg_(std::move(config)), runner_(runner), objects_(objects) {
  if (cfg_.segment_seconds <= 0) cfg_.segment_seconds = 4;
  if (cfg_.process_timeout.count() <= 0) cfg_.process_timeout = std::chrono::hours(6);
}

PipelineResult Pipeline::run(const std::string& asset_id, const std::string& source_file, const SourceInfo& info,
                             const PipelineHooks& hooks) {
  using namespace stages;
  // The context outlives the stages: their destructors stop and join the helper
  // threads (setting abort) before the work dir in it is removed.
  JobContext ctx(cfg_, runner_, objects_, hooks, asset_id, source_file, info);
  ProbeStage probe(ctx);
  OpenerStage opener(ctx);
  LadderStage ladder(ctx);
  MasterStage master(ctx);
  PosterStage poster(ctx);
  StoryboardStage storyboard(ctx);
  Stage* const chain[] = {&probe, &opener, &ladder, &master, &poster, &storyboard};

  PipelineResult res;
  res.status = run_stages(chain);
  if (res.status.ok()) {
    try {
      // Not announced yet only when the ladder finished before a tick published it.
      ctx.notify_playable();
    } catch (const std::exception& e) {
      core::log::error("media_publish_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
      res.status = errors::storage_failed();
    }
  }
  if (!res.status.ok()) return res;
  core::log::info("media_hls_ready",
                  {{"asset_id", asset_id}, {"ms", ctx.ms_since_start()}, {"rungs", int(ctx.ladder.size())}});
  res.tiers = ctx.tiers;
  res.billing_tier = ctx.billing_tier;
  return res;
}

}  // namespace rend::media
