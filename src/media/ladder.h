#pragma once
// The HLS bitrate ladder: which renditions ("rungs") a source gets.
//
// Rung names refer to the SHORTER side, so a portrait 1080x1920 phone clip gets a
// "1080p" rung of 1080x1920. Dimensions keep the source aspect ratio and are even.
#include <string>
#include <string_view>
#include <vector>

#include "media/probe.h"

namespace rend::media {

struct Rung {
  std::string name;  // "1080p"
  int width = 0, height = 0;
  int video_kbps = 0, audio_kbps = 0;  // audio_kbps is 0 when the source has no audio
  std::string codecs;                  // RFC 6381, e.g. "avc1.640028,mp4a.40.2"
  std::string h264_level;              // "4.0"
};

// Highest first, at most four rungs, never larger than the source. `max_short_side`
// > 0 caps the ladder as if the source's shorter side were at most that (the ladder
// cap of the account's plan): a 1440p source capped at 1080 gets 1080p/720p/540p/360p.
std::vector<Rung> choose_ladder(int width, int height, bool has_audio, int max_short_side = 0);

// The shorter side a ladder capped at billing tier `tier` may reach: 720p → 720,
// 1080p → 1080, 2k → 1440; 4k and anything else → 0 (no cap).
int max_short_side_for_tier(std::string_view tier);

// "720p" (top short side <= 720), "1080p", "2k" (1440), "4k" (2160).
std::string billing_tier_for(const std::vector<Rung>& ladder);

// Where the ladder's keyframes, and so its segment boundaries, fall (seconds; the same
// for every rung, so the rungs stay keyframe-aligned): every second for the first
// kShortKeyframes seconds, then on the segment grid (4 s: 0 1 2 4 8 12 ...). The short
// first segments let the first rendition become playable after ~1 s of encoded video
// instead of a whole 4 s segment of every rung (issue 17); from the grid on, the
// segments are the ladder's usual ones. Times below `duration_s`.
inline constexpr int kShortKeyframes = 3;
std::vector<double> keyframe_times(int segment_seconds, double duration_s);
// The same schedule as ffmpeg's `-force_key_frames` expression.
std::string force_key_frames_expr(int segment_seconds);

// CODECS for an H.264 stream copied from the source ("avc1.64001f,mp4a.40.2").
std::string codecs_for_source(const SourceInfo& info);

}  // namespace rend::media
