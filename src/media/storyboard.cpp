#include "media/storyboard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rend::media {

StoryboardPlan storyboard_plan(const SourceInfo& info) {
  StoryboardPlan p;
  if (!(info.duration_s > 0) || !std::isfinite(info.duration_s) || info.width <= 0 || info.height <= 0) return p;
  const double duration_ms = info.duration_s * 1000;
  // Rounded up to a whole millisecond, so tiles * interval still reaches the end and
  // the tile count stays within the budget.
  p.interval_ms = std::max(kStoryboardMinIntervalMs, int(std::ceil(duration_ms / kStoryboardMaxTiles - 1e-6)));
  p.tiles = std::max(1, int(std::ceil(duration_ms / p.interval_ms - 1e-9)));
  p.tile_width = kStoryboardTileWidth;
  // Aspect kept, even (JPEG and yuv420p want it), and bounded for extreme shapes.
  p.tile_height = std::clamp(int(std::lround(kStoryboardTileWidth * double(info.height) / info.width / 2.0)) * 2, 2,
                             4 * kStoryboardTileWidth);
  p.columns = std::min(kStoryboardGrid, p.tiles);
  p.rows = std::min(kStoryboardGrid, (p.tiles + p.columns - 1) / p.columns);
  return p;
}

std::vector<std::string> storyboard_command(const std::string& ffmpeg_path, const std::string& source_file,
                                            const SourceInfo& info, const StoryboardPlan& plan,
                                            const std::string& out_dir) {
  // fps with eof_action=pass emits ceil(duration / interval) frames, the first at t = 0
  // (the default rounding drops the last partial interval); tile flushes a partly
  // filled last sheet at the end of the stream.
  std::string graph = "fps=1000/" + std::to_string(plan.interval_ms) +
                      ":eof_action=pass,scale=" + std::to_string(plan.tile_width) + ":" +
                      std::to_string(plan.tile_height) + ",setsar=1,tile=" + std::to_string(plan.columns) + "x" +
                      std::to_string(plan.rows);
  // -skip_frame noref: the decoder skips frames nothing else refers to (most B-frames):
  // about half the decoding of a typical H.264 upload (30 s 1080p: 2.1 s of CPU instead
  // of 3.9 s), and fps= then takes a neighbouring frame, a few ms away, for a tile.
  std::vector<std::string> a = {ffmpeg_path, "-hide_banner", "-nostdin",    "-nostats", "-loglevel",
                                "error",     "-y",           "-skip_frame", "noref"};
  a.insert(a.end(), {"-protocol_whitelist", "file", "-format_whitelist", info.demuxer, "-f", info.demuxer, "-i",
                     "file:" + source_file});
  a.insert(a.end(), {"-map", "0:V:0", "-an", "-sn", "-dn", "-vf", graph, "-q:v", "5", "-f", "image2", "-start_number",
                     "1", "-protocol_whitelist", "file", out_dir + "/sheet_%04d.jpg"});
  return a;
}

std::string storyboard_sheet_name(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "sheet_%04d.jpg", index + 1);
  return name;
}

std::string vtt_timestamp(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
                (long long)(ms / 1000 % 60), (long long)(ms % 1000));
  return buf;
}

std::string storyboard_vtt(const StoryboardPlan& plan, int sheets_made, double duration_s) {
  const int per_sheet = plan.columns * plan.rows;
  const int tiles = std::min(plan.tiles, std::max(0, sheets_made) * per_sheet);
  if (tiles <= 0) return {};
  const int64_t end_ms = std::max<int64_t>(1, std::llround(duration_s * 1000));
  std::string out = "WEBVTT\n\n";
  for (int k = 0; k < tiles; ++k) {
    int64_t from = int64_t(k) * plan.interval_ms;
    if (from >= end_ms) break;
    int64_t to = k + 1 == tiles ? end_ms : std::min(end_ms, from + plan.interval_ms);
    int on_sheet = k % per_sheet;
    int x = (on_sheet % plan.columns) * plan.tile_width, y = (on_sheet / plan.columns) * plan.tile_height;
    out += vtt_timestamp(from) + " --> " + vtt_timestamp(to) + "\nstoryboard/" + storyboard_sheet_name(k / per_sheet) +
           "#xywh=" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(plan.tile_width) + "," +
           std::to_string(plan.tile_height) + "\n\n";
  }
  return out;
}

}  // namespace rend::media
