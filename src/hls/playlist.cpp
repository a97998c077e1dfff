#include "hls/playlist.h"

#include <cstdio>
#include <cstdlib>

namespace rend::hls {

std::string master_playlist(const std::vector<Variant>& variants) {
  std::string out = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (const auto& v : variants) {
    out += "#EXT-X-STREAM-INF:BANDWIDTH=" + std::to_string(v.bandwidth);
    if (v.average_bandwidth > 0) out += ",AVERAGE-BANDWIDTH=" + std::to_string(v.average_bandwidth);
    if (v.width > 0 && v.height > 0) out += ",RESOLUTION=" + std::to_string(v.width) + "x" + std::to_string(v.height);
    if (!v.codecs.empty()) out += ",CODECS=\"" + v.codecs + "\"";
    if (v.frame_rate > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", v.frame_rate);
      out += ",FRAME-RATE=";
      out += buf;
    }
    out += "\n" + v.uri + "\n";
  }
  return out;
}

MediaPlaylistInfo parse_media_playlist(std::string_view text) {
  MediaPlaylistInfo info;
  bool have_extinf = false;
  double pending = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // incomplete last line: ignore
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    if (line.starts_with("#EXTINF:")) {
      std::string v(line.substr(8));
      pending = std::strtod(v.c_str(), nullptr);
      have_extinf = true;
    } else if (line == "#EXT-X-ENDLIST") {
      info.ended = true;
    } else if (line.front() == '#') {
      continue;
    } else if (have_extinf) {
      info.segment_uris.emplace_back(line);
      info.durations.push_back(pending);
      have_extinf = false;
    }
  }
  return info;
}

}  // namespace rend::hls
