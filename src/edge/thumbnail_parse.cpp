#include "edge/thumbnail_parse.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/ids.h"

namespace rend::edge {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ThumbnailError error(int status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

}  // namespace

std::variant<ThumbnailQuery, ThumbnailError> parse_thumbnail_query(const std::optional<std::string>& time,
                                                                   const std::optional<std::string>& width) {
  ThumbnailQuery q;
  if (time) {
    // At most six integer digits (a video is shorter than 277 hours) and three
    // decimals: nothing strtod would read differently (signs, exponents, hex, nan).
    const std::string& t = *time;
    auto dot = t.find('.');
    std::string_view ip = std::string_view(t).substr(0, dot);
    std::string_view fp = dot == std::string::npos ? std::string_view() : std::string_view(t).substr(dot + 1);
    if (!all_digits(ip) || ip.size() > 6 || (dot != std::string::npos && (!all_digits(fp) || fp.size() > 3)))
      return error(400, "invalid_time", "time must be seconds as a decimal number, 0 <= time < duration (e.g. 12.5)");
    q.time_ds = std::stoll(std::string(ip)) * 10 + (fp.empty() ? 0 : fp[0] - '0');
  }
  if (width) {
    auto it = std::find_if(kThumbnailWidths.begin(), kThumbnailWidths.end(),
                           [&](int w) { return *width == std::to_string(w); });
    if (it == kThumbnailWidths.end()) return error(400, "invalid_width", "width must be one of 160, 320, 640, 1280");
    q.width = *it;
  }
  return q;
}

int64_t default_thumbnail_time_ds(double duration_s) {
  if (duration_s >= 2.0) return 10;
  return std::max<int64_t>(0, int64_t(std::floor(duration_s / 2 * 10)));
}

std::vector<MasterVariant> parse_master_variants(std::string_view text) {
  std::vector<MasterVariant> out;
  bool pending = false;
  MasterVariant v;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.starts_with("#EXT-X-STREAM-INF:")) {
      pending = true;
      v = {};
      if (auto r = line.find("RESOLUTION="); r != std::string_view::npos) {
        int w = 0, h = 0;
        if (std::sscanf(std::string(line.substr(r + 11)).c_str(), "%dx%d", &w, &h) == 2 && w > 0 && h > 0) {
          v.width = w;
          v.height = h;
        }
      }
    } else if (line[0] != '#' && pending) {
      v.uri = std::string(line);
      out.push_back(v);
      pending = false;
    }
  }
  return out;
}

std::optional<size_t> choose_variant(const std::vector<MasterVariant>& variants, int width) {
  std::optional<size_t> best, widest;
  for (size_t i = 0; i < variants.size(); ++i) {
    const auto& v = variants[i];
    if (!widest || v.width > variants[*widest].width) widest = i;
    if (v.width >= width && (!best || v.width < variants[*best].width)) best = i;
  }
  return best ? best : widest;
}

std::optional<SegmentAt> segment_at(const hls::MediaPlaylistInfo& playlist, double t) {
  if (t < 0) return std::nullopt;
  double start = 0;
  for (size_t i = 0; i < playlist.durations.size(); ++i) {
    double d = playlist.durations[i];
    if (t < start + d) return SegmentAt{i, start, d};
    start += d;
  }
  return std::nullopt;
}

std::string thumbnail_key(const std::string& asset_id, int64_t time_ds, int width) {
  return "assets/" + asset_id + "/thumb/" + std::to_string(time_ds) + "/" + std::to_string(width) + "/thumbnail.jpg";
}

std::optional<ThumbnailKey> parse_thumbnail_key(std::string_view key) {
  constexpr std::string_view kAssets = "assets/", kTail = "/thumbnail.jpg";
  // The length check first: "assets/thumbnail.jpg" has both ends, overlapping on its
  // '/' (fuzz_thumbnail found remove_suffix running past the start).
  if (key.size() < kAssets.size() + kTail.size() || !key.starts_with(kAssets) || !key.ends_with(kTail))
    return std::nullopt;
  key.remove_prefix(kAssets.size());
  key.remove_suffix(kTail.size());
  auto s1 = key.find('/');
  if (s1 == std::string_view::npos) return std::nullopt;
  auto s2 = key.find('/', s1 + 1);
  auto s3 = s2 == std::string_view::npos ? s2 : key.find('/', s2 + 1);
  if (s3 == std::string_view::npos || key.substr(s1 + 1, s2 - s1 - 1) != "thumb") return std::nullopt;
  ThumbnailKey k;
  k.asset_id = std::string(key.substr(0, s1));
  std::string_view t = key.substr(s2 + 1, s3 - s2 - 1), w = key.substr(s3 + 1);
  if (!core::is_valid_id(k.asset_id) || !all_digits(t) || t.size() > 8 || !all_digits(w) || w.size() > 5)
    return std::nullopt;
  k.time_ds = std::stoll(std::string(t));
  k.width = std::stoi(std::string(w));
  if (std::find(kThumbnailWidths.begin(), kThumbnailWidths.end(), k.width) == kThumbnailWidths.end())
    return std::nullopt;
  return k;
}

std::vector<std::string> thumbnail_command(const std::string& ffmpeg_path, const std::string& segment_file,
                                           double offset_s, int width, const std::string& out_file) {
  char ss[32];
  std::snprintf(ss, sizeof ss, "%.3f", std::max(0.0, offset_s));
  // -ss after -i: decode from the segment's start and drop frames up to the offset.
  // Seeking in the input (-ss before -i) fails on a lone MPEG-TS segment whose
  // timestamps do not start at 0 (no frame comes out); a segment is a few seconds.
  return {ffmpeg_path,
          "-hide_banner",
          "-nostdin",
          "-nostats",
          "-loglevel",
          "error",
          "-y",
          "-protocol_whitelist",
          "file",
          "-format_whitelist",
          "mpegts",
          "-f",
          "mpegts",
          "-i",
          "file:" + segment_file,
          "-ss",
          ss,
          "-map",
          "0:v:0",
          "-frames:v",
          "1",
          "-vf",
          "scale=" + std::to_string(width) + ":-2,setsar=1",
          "-q:v",
          "3",
          "-f",
          "image2",
          "-update",
          "1",
          "-protocol_whitelist",
          "file",
          out_file};
}

}  // namespace rend::edge
