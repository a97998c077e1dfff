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
// Messages are human-readable and never contain file system paths.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/process.h"

namespace rend::media {

struct SourceInfo {
  double duration_s = 0;
  int width = 0, height = 0;  // display size: after rotation and sample aspect ratio
  int rotation = 0;           // normalised to 0, 90, 180 or 270 (clockwise display rotation)
  std::string video_codec, pix_fmt, profile;  // ffprobe names: "h264", "yuv420p", "High"
  int level = 0;                              // ffprobe level, e.g. 40 for H.264 4.0
  double fps = 0;                             // average frame rate (0 when unknown)
  bool has_audio = false;
  std::string audio_codec;  // "aac", "mp3", ... (empty without audio)
  int64_t bit_rate = 0;     // container bit rate in bit/s (0 when unknown)
};

struct MediaFailure {
  std::string code;
  std::string message;
};

std::variant<SourceInfo, MediaFailure> parse_probe_json(std::string_view ffprobe_json, double max_duration_s);

std::variant<SourceInfo, MediaFailure> probe(core::ProcessRunner& runner, const std::string& ffprobe_path,
                                             const std::string& file, double max_duration_s,
                                             std::chrono::milliseconds timeout);

}  // namespace rend::media
