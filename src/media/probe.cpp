#include "media/probe.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>

#include "core/log.h"

namespace rend::media {
namespace json = boost::json;

namespace {

std::string str_field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return {};
  if (it->value().is_string()) return std::string(it->value().as_string());
  if (it->value().is_int64()) return std::to_string(it->value().as_int64());
  if (it->value().is_double()) return std::to_string(it->value().as_double());
  return {};
}

// ffprobe prints most numbers as strings ("6.000000") and some as numbers.
double num_field(const json::object& o, std::string_view key, double fallback = 0) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  const auto& v = it->value();
  if (v.is_int64()) return double(v.as_int64());
  if (v.is_uint64()) return double(v.as_uint64());
  if (v.is_double()) return v.as_double();
  if (v.is_string()) {
    std::string s(v.as_string());
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() && std::isfinite(d)) return d;
  }
  return fallback;
}

// "30000/1001" -> 29.97; "0/0" -> 0.
double parse_ratio(const std::string& s, char sep = '/') {
  auto p = s.find(sep);
  if (p == std::string::npos) return std::strtod(s.c_str(), nullptr);
  double n = std::strtod(s.substr(0, p).c_str(), nullptr);
  double d = std::strtod(s.substr(p + 1).c_str(), nullptr);
  if (!(d > 0) || !(n > 0) || !std::isfinite(n / d)) return 0;
  return n / d;
}

bool disposition(const json::object& st, std::string_view key) {
  auto it = st.find("disposition");
  if (it == st.end() || !it->value().is_object()) return false;
  return num_field(it->value().as_object(), key) != 0;
}

// Clockwise display rotation in {0, 90, 180, 270}.
int rotation_of(const json::object& st) {
  double deg = 0;
  bool found = false;
  if (auto it = st.find("side_data_list"); it != st.end() && it->value().is_array()) {
    for (const auto& sd : it->value().as_array()) {
      if (!sd.is_object()) continue;
      const auto& o = sd.as_object();
      if (str_field(o, "side_data_type") == "Display Matrix" && o.contains("rotation")) {
        // ffprobe reports the display matrix angle counter-clockwise.
        deg = -num_field(o, "rotation");
        found = true;
        break;
      }
    }
  }
  if (!found) {
    if (auto it = st.find("tags"); it != st.end() && it->value().is_object()) {
      const auto& tags = it->value().as_object();
      if (tags.contains("rotate")) deg = num_field(tags, "rotate");  // clockwise, legacy tag
    }
  }
  long r = std::lround(deg / 90.0) * 90;
  r %= 360;
  if (r < 0) r += 360;
  return int(r);
}

bool is_image_codec(const std::string& c) {
  static const char* kImages[] = {"png", "apng", "bmp",     "tiff", "webp",   "gif",       "jpeg2000", "jpegls",
                                  "pam", "pbm",  "pgm",     "ppm",  "pcx",    "targa",     "sgi",      "xbm",
                                  "xpm", "xwd",  "psd",     "qoi",  "dpx",    "exr",       "sunrast",  "ansi",
                                  "svg", "hdr",  "photocd", "ptx",  "jpegxl", "alias_pix", "pictor",   "vbn"};
  return std::any_of(std::begin(kImages), std::end(kImages), [&](const char* n) { return c == n; });
}

// Real video containers whose demuxers read only the bytes of the file they were
// given. Deliberately absent: playlists and scripts that open other URLs or files
// (hls, dash, concat, webm_dash_manifest, sdp, rtsp, image2 sequences), synthetic
// sources (lavfi), and formats that turn arbitrary bytes into pictures (tty, data,
// rawvideo, *_pipe images). mov's external references (drefs) stay off by default.
const std::vector<std::string> kVideoDemuxers = {"mov",  "matroska",  "avi",          "flv",  "mpegts",
                                                 "mpeg", "asf",       "ogg",          "mxf",  "nut",
                                                 "dv",   "ivf",       "obu",          "h264", "hevc",
                                                 "m4v",  "mpegvideo", "yuv4mpegpipe", "gif",  "apng"};

MediaFailure fail(std::string code, std::string message) { return MediaFailure{std::move(code), std::move(message)}; }

std::string fmt_duration(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", s);
  return buf;
}

}  // namespace

const std::vector<std::string>& video_demuxers() { return kVideoDemuxers; }

std::string video_demuxer_whitelist() {
  std::string s;
  for (const auto& d : kVideoDemuxers) {
    if (!s.empty()) s += ',';
    s += d;
  }
  return s;
}

std::string allowed_demuxer(std::string_view format_name) {
  // ffprobe names a demuxer by all its aliases: "mov,mp4,m4a,3gp,3g2,mj2".
  while (!format_name.empty()) {
    auto comma = format_name.find(',');
    std::string_view name = format_name.substr(0, comma);
    for (const auto& d : kVideoDemuxers)
      if (name == d) return d;
    if (comma == std::string_view::npos) break;
    format_name.remove_prefix(comma + 1);
  }
  return {};
}

std::vector<std::string> input_args(const std::string& demuxer, const std::string& file) {
  // "file:" keeps a name such as "a:b" from being read as a protocol. The format
  // whitelist repeats the forced demuxer so no nested demuxer can be opened either.
  return {"-protocol_whitelist", "file", "-format_whitelist", demuxer, "-f", demuxer, "-i", "file:" + file};
}

std::variant<SourceInfo, MediaFailure> parse_probe_json(std::string_view text, double max_duration_s) {
  ProbeLimits limits;
  limits.max_duration_s = max_duration_s;
  return parse_probe_json(text, limits);
}

std::variant<SourceInfo, MediaFailure> parse_probe_json(std::string_view text, const ProbeLimits& limits) {
  const double max_duration_s = limits.max_duration_s;
  json::value root;
  {
    boost::system::error_code ec;
    root = json::parse(text, ec);
    if (ec || !root.is_object()) return fail("corrupt_input", "The file could not be read as a media file.");
  }
  const auto& obj = root.as_object();
  const json::object* format = nullptr;
  if (auto it = obj.find("format"); it != obj.end() && it->value().is_object()) format = &it->value().as_object();
  const json::array* streams = nullptr;
  if (auto it = obj.find("streams"); it != obj.end() && it->value().is_array()) streams = &it->value().as_array();
  if (!format && (!streams || streams->empty()))
    return fail("corrupt_input", "The file could not be read as a media file.");

  const json::object* video = nullptr;
  const json::object* audio = nullptr;
  bool had_cover_art = false;
  if (streams) {
    for (const auto& s : *streams) {
      if (!s.is_object()) continue;
      const auto& st = s.as_object();
      std::string type = str_field(st, "codec_type");
      if (type == "video") {
        if (disposition(st, "attached_pic") || disposition(st, "still_image") || disposition(st, "timed_thumbnails")) {
          had_cover_art = true;
          continue;
        }
        if (!video) video = &st;
      } else if (type == "audio") {
        if (!audio) audio = &st;
      }
    }
  }
  std::string format_name = format ? str_field(*format, "format_name") : "";

  if (!video) {
    if (audio) return fail("not_a_video", "The file contains audio only; a video stream is required.");
    if (had_cover_art) return fail("not_a_video", "The file contains only a still image, not a video.");
    return fail("not_a_video", "The file does not contain a video stream.");
  }

  std::string codec = str_field(*video, "codec_name");
  // Single pictures come as image demuxers ("png_pipe", "image2", ...) or as one-frame
  // streams; animated GIF/WebP/APNG with more than one frame are accepted as video.
  bool image_format = format_name.find("_pipe") != std::string::npos || format_name == "image2";
  double nb_frames = num_field(*video, "nb_frames", -1);
  bool animated_codec = codec == "gif" || codec == "apng" || codec == "webp";
  if (format_name == "tty" || codec == "ansi")
    return fail("not_a_video", "The file looks like a text file, not a video.");
  if (nb_frames == 1) return fail("not_a_video", "The file contains a single picture, not a video.");
  if (image_format && !(animated_codec && nb_frames > 1))
    return fail("not_a_video", "The file is a still image, not a video.");
  if (is_image_codec(codec) && !(nb_frames > 1) && !(animated_codec && nb_frames < 0))
    return fail("not_a_video", "The file is a still image, not a video.");

  SourceInfo info;
  info.demuxer = allowed_demuxer(format_name);
  if (info.demuxer.empty()) return fail("not_a_video", "The file is not in an accepted video container format.");
  info.video_codec = codec;
  info.pix_fmt = str_field(*video, "pix_fmt");
  info.profile = str_field(*video, "profile");
  info.level = int(num_field(*video, "level"));
  int w = int(num_field(*video, "width"));
  int h = int(num_field(*video, "height"));
  if (w <= 0 || h <= 0) return fail("corrupt_input", "The video stream has no picture size; the file may be damaged.");
  // Decoding cost follows the coded size, before aspect ratio and rotation.
  if (w > kMaxSide || h > kMaxSide || (limits.max_pixels > 0 && int64_t(w) * h > limits.max_pixels))
    return fail("unsupported_input", "The video is " + std::to_string(w) + "x" + std::to_string(h) +
                                         " pixels; the limit is " + std::to_string(kMaxSide) + " pixels a side and " +
                                         std::to_string(limits.max_pixels) + " pixels a frame.");
  double sar = parse_ratio(str_field(*video, "sample_aspect_ratio"), ':');
  if (sar > 0 && std::fabs(sar - 1.0) > 1e-3 && sar < 10 && sar > 0.1) w = std::max(2, int(std::lround(w * sar)));
  info.rotation = rotation_of(*video);
  if (info.rotation == 90 || info.rotation == 270) std::swap(w, h);
  info.width = w;
  info.height = h;

  info.fps = parse_ratio(str_field(*video, "avg_frame_rate"));
  if (!(info.fps > 0) || info.fps > 1000) {
    double r = parse_ratio(str_field(*video, "r_frame_rate"));
    info.fps = (r > 0 && r <= 1000) ? r : 0;
  }

  double duration = format ? num_field(*format, "duration") : 0;
  if (!(duration > 0)) duration = num_field(*video, "duration");
  if (!(duration > 0) || !std::isfinite(duration))
    return fail("corrupt_input", "The video has no duration; the file may be damaged or incomplete.");
  if (limits.max_fps > 0) {
    // The declared average rate (even one the fps field above ignores as absurd),
    // and the frames actually counted over the duration.
    // Slack: a 240 fps phone clip says 240.02, and the container duration can be a
    // little shorter than the stream's.
    double declared = std::max(info.fps, parse_ratio(str_field(*video, "avg_frame_rate")));
    double counted = nb_frames > 0 ? nb_frames / duration : 0;
    if (declared > limits.max_fps * 1.01 || counted > limits.max_fps * 1.05)
      return fail("unsupported_input", "The video has " + fmt_duration(std::max(declared, counted)) +
                                           " frames a second; the limit is " + fmt_duration(limits.max_fps) + ".");
  }
  info.duration_s = duration;
  if (max_duration_s > 0 && duration > max_duration_s)
    return fail("too_long", "The video is " + fmt_duration(duration) + " seconds long; the limit is " +
                                fmt_duration(max_duration_s) + " seconds.");

  if (audio) {
    info.has_audio = true;
    info.audio_codec = str_field(*audio, "codec_name");
  }
  info.bit_rate = format ? int64_t(num_field(*format, "bit_rate")) : 0;
  if (info.bit_rate <= 0 && format) {
    double size = num_field(*format, "size");
    if (size > 0) info.bit_rate = int64_t(size * 8 / duration);
  }
  return info;
}

namespace {

// After ffprobe failed: a readable text file is "not a video"; anything else is damaged.
std::optional<MediaFailure> sniff_failed_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("corrupt_input", "The uploaded file could not be read.");
  char buf[4096];
  in.read(buf, sizeof buf);
  std::streamsize n = in.gcount();
  if (n <= 0) return fail("corrupt_input", "The uploaded file is empty.");
  int printable = 0;
  for (std::streamsize i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(buf[i]);
    if (c == 0) return std::nullopt;
    if (c >= 0x20 || c == '\n' || c == '\r' || c == '\t' || c >= 0x80) ++printable;
  }
  if (printable == n) return fail("not_a_video", "The file looks like a text file, not a video.");
  return std::nullopt;
}

}  // namespace

std::variant<SourceInfo, MediaFailure> probe(core::ProcessRunner& runner, const std::string& ffprobe_path,
                                             const std::string& file, double max_duration_s,
                                             std::chrono::milliseconds timeout) {
  ProbeLimits limits;
  limits.max_duration_s = max_duration_s;
  return probe(runner, ffprobe_path, file, limits, timeout);
}

std::variant<SourceInfo, MediaFailure> probe(core::ProcessRunner& runner, const std::string& ffprobe_path,
                                             const std::string& file, const ProbeLimits& limits,
                                             std::chrono::milliseconds timeout) {
  core::ProcessOptions opts;
  opts.timeout = timeout;
  opts.capture_stdout = true;
  // A file with millions of streams or side data makes ffprobe print without end.
  opts.max_stdout_bytes = kMaxProbeOutputBytes;
  // "file:" keeps a name such as "a:b" from being read as a protocol. The
  // whitelists bind every nested open too: a playlist is refused before it is read.
  std::vector<std::string> argv = {ffprobe_path,
                                   "-v",
                                   "error",
                                   "-protocol_whitelist",
                                   "file",
                                   "-format_whitelist",
                                   video_demuxer_whitelist(),
                                   "-print_format",
                                   "json",
                                   "-show_format",
                                   "-show_streams",
                                   "file:" + file};
  core::ProcessResult r = runner.run(argv, opts);
  if (r.timed_out) return fail("corrupt_input", "Reading the file's media information timed out.");
  if (r.stdout_overflow)
    return fail("corrupt_input", "The file's media information is unreasonably large; it may be damaged.");
  if (r.exit_code != 0 && r.err_tail.find("not on whitelist") != std::string::npos) {
    // ffprobe recognised the file as something other than an accepted container
    // (an image, audio, a playlist, a script) and stopped before reading it.
    core::log::info("media_probe_refused_format", {});
    return fail("not_a_video", "The file is not in an accepted video container format.");
  }
  if (r.exit_code != 0) {
    core::log::info("media_probe_failed", {{"exit_code", r.exit_code}});
    if (auto f = sniff_failed_file(file)) return *f;
    return fail("corrupt_input",
                "The file could not be read as a media file; it may be damaged or in an unsupported format.");
  }
  auto parsed = parse_probe_json(r.out, limits);
  if (auto* f = std::get_if<MediaFailure>(&parsed); f && f->code == "corrupt_input") {
    if (auto t = sniff_failed_file(file); t && t->code == "not_a_video") return *t;
  }
  return parsed;
}

}  // namespace rend::media
