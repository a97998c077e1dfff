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

std::string storyboard_filter(const StoryboardPlan& plan) {
  // fps with eof_action=pass emits ceil(duration / interval) frames, the first at t = 0
  // (the default rounding drops the last partial interval); tile flushes a partly
  // filled last sheet at the end of the stream.
  return "fps=1000/" + std::to_string(plan.interval_ms) + ":eof_action=pass,scale=" + std::to_string(plan.tile_width) +
         ":" + std::to_string(plan.tile_height) + ",setsar=1,tile=" + std::to_string(plan.columns) + "x" +
         std::to_string(plan.rows);
}

std::vector<std::string> storyboard_output_args(const std::string& label, const std::string& out_dir) {
  // image2 numbers from 1 by default (sheet_0001.jpg).
  return {"-map",
          label,
          "-c:v",
          "mjpeg",
          "-q:v",
          "5",
          "-f",
          "image2",
          "-protocol_whitelist",
          "file",
          out_dir + "/sheet_%04d.jpg"};
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
