#pragma once
// Storyboards: JPEG sprite sheets of small frames and the WebVTT file that maps each
// time range to a tile (`storyboard/sheet_0001.jpg#xywh=x,y,w,h`, the format hls.js,
// Video.js and Mux's players read for timeline previews).
//
// The ladder's ffmpeg makes every sheet from the frames it decodes anyway: `fps` takes
// one frame per interval from t = 0, `scale` shrinks it to a tile, `tile` lays tiles out
// row by row, `columns x rows` per sheet. The interval grows with the duration so a long video stays within
// kMaxTiles tiles (a bounded number of sheets to make, store and download):
// interval = max(2 s, duration / kMaxTiles), in whole milliseconds so cue times are exact.
#include <string>
#include <vector>

#include "media/probe.h"

namespace rend::media {

struct StoryboardPlan {
  int interval_ms = 0;
  int tiles = 0;  // ceil(duration / interval): tile k is the frame at k * interval
  int tile_width = 0, tile_height = 0;
  int columns = 0, rows = 0;  // per sheet; a short video gets a smaller grid
  int sheets() const { return columns * rows > 0 ? (tiles + columns * rows - 1) / (columns * rows) : 0; }
};

inline constexpr int kStoryboardMaxTiles = 200;
inline constexpr int kStoryboardMinIntervalMs = 2000;
inline constexpr int kStoryboardTileWidth = 160;
inline constexpr int kStoryboardGrid = 10;  // at most 10 x 10 tiles a sheet

// The plan for a source of `info`'s display size and duration; tiles == 0 when
// there is nothing to show (no duration or no picture size).
StoryboardPlan storyboard_plan(const SourceInfo& info);

// The filter chain making the sheets from decoded frames: a branch of the ladder's
// filter graph (ladder_command), so the storyboard costs no decode of its own.
std::string storyboard_filter(const StoryboardPlan& plan);

// The image2 output writing the graph's `label` ("[sb]") as {out_dir}/sheet_0001.jpg, ...
// (file protocol only).
std::vector<std::string> storyboard_output_args(const std::string& label, const std::string& out_dir);

// "sheet_0001.jpg" for sheet index 0.
std::string storyboard_sheet_name(int index);

// WEBVTT with one cue per tile, [k * interval, (k + 1) * interval) clipped to the
// duration, pointing at "storyboard/sheet_NNNN.jpg#xywh=x,y,w,h" (relative to
// storyboard.vtt at the asset root). Only tiles on the `sheets_made` sheets are
// listed; the last cue always ends at the duration, so the cues cover [0, duration)
// without gaps even when ffmpeg made fewer tiles than planned.
std::string storyboard_vtt(const StoryboardPlan& plan, int sheets_made, double duration_s);

// "HH:MM:SS.mmm" (WebVTT timestamp).
std::string vtt_timestamp(int64_t ms);

}  // namespace rend::media
