#pragma once
// Probing an uploaded source with ffprobe and classifying it.
//
// parse_probe_json() is pure (unit-tested on fixture JSON); probe() runs
// `ffprobe -v error -print_format json -show_format -show_streams FILE` through a
// core::ProcessRunner (never a shell) and parses the result.
//
// Failure codes (MediaFailure::code):
//   not_a_video    no video stream: audio-only, a still image (png/jpeg/single-frame
//                  gif, cover art only), a text file ffprobe reads as something else
//   corrupt_input  ffprobe could not parse the file, zero duration, zero-size video
//   too_long       duration > max_duration_s
//   unsupported_input  beyond what a worker will decode: more than kMaxSide pixels
//                  on a side, more than max_pixels per frame, more than max_fps
//                  frames a second (limits checked before any ffmpeg runs)
//   corrupt_input  also: ffprobe printed more than kMaxProbeOutputBytes
// Messages are human-readable and never contain file system paths.
//
// Uploads come from anyone holding an upload key, so ffprobe (and every ffmpeg run
// on the source) is pinned to the `file` protocol and to the container demuxers in
// video_demuxers(): playlists and scripts (hls, dash, concat, image2, lavfi, sdp,
// ...) would otherwise make the worker fetch URLs or read local files and publish
// what it found. Anything else is `not_a_video`.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/process.h"

namespace rend::media {

struct SourceInfo {
  double duration_s = 0;
  int width = 0, height = 0;                  // display size: after rotation and sample aspect ratio
  int rotation = 0;                           // normalised to 0, 90, 180 or 270 (clockwise display rotation)
  std::string video_codec, pix_fmt, profile;  // ffprobe names: "h264", "yuv420p", "High"
  int level = 0;                              // ffprobe level, e.g. 40 for H.264 4.0
  double fps = 0;                             // average frame rate (0 when unknown)
  bool has_audio = false;
  std::string audio_codec;  // "aac", "mp3", ... (empty without audio)
  int64_t bit_rate = 0;     // container bit rate in bit/s (0 when unknown)
  // The demuxer ffprobe chose, one name from video_demuxers() ("mov", "matroska");
  // every ffmpeg run forces it with `-f` instead of probing the file again.
  std::string demuxer;
};

// The container demuxers an upload may be opened with (ffmpeg names).
const std::vector<std::string>& video_demuxers();
// video_demuxers() joined with commas, for -format_whitelist.
std::string video_demuxer_whitelist();
// The allowed demuxer for ffprobe's format_name ("mov,mp4,m4a,3gp,3g2,mj2" -> "mov");
// empty when none of its names is allowed.
std::string allowed_demuxer(std::string_view format_name);
// ffmpeg arguments opening `file` safely: the file protocol only, the demuxer forced.
std::vector<std::string> input_args(const std::string& demuxer, const std::string& file);

struct MediaFailure {
  std::string code;
  std::string message;
};

// Bounds on what a worker accepts from an upload (REND_MEDIA_MAX_* variables).
inline constexpr int kMaxSide = 8192;                            // coded width or height
inline constexpr size_t kMaxProbeOutputBytes = 4 * 1024 * 1024;  // ffprobe's JSON
struct ProbeLimits {
  double max_duration_s = 0;                          // 0: no limit
  int64_t max_pixels = int64_t(kMaxSide) * kMaxSide;  // coded width x height
  double max_fps = 240;
};

std::variant<SourceInfo, MediaFailure> parse_probe_json(std::string_view ffprobe_json, const ProbeLimits& limits);
std::variant<SourceInfo, MediaFailure> parse_probe_json(std::string_view ffprobe_json, double max_duration_s);

std::variant<SourceInfo, MediaFailure> probe(core::ProcessRunner& runner, const std::string& ffprobe_path,
                                             const std::string& file, const ProbeLimits& limits,
                                             std::chrono::milliseconds timeout);
std::variant<SourceInfo, MediaFailure> probe(core::ProcessRunner& runner, const std::string& ffprobe_path,
                                             const std::string& file, double max_duration_s,
                                             std::chrono::milliseconds timeout);

}  // namespace rend::media
