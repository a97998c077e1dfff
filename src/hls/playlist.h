#pragma once
// HLS playlists (RFC 8216): writing the master playlist and reading the media
// playlists ffmpeg writes while it runs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rend::hls {

struct Variant {
  std::string uri;        // relative, e.g. "720p/index.m3u8"
  int64_t bandwidth = 0;  // peak bit/s (BANDWIDTH)
  int width = 0, height = 0;
  std::string codecs;             // "avc1.64001f,mp4a.40.2"
  double frame_rate = 0;          // FRAME-RATE, omitted when <= 0
  int64_t average_bandwidth = 0;  // AVERAGE-BANDWIDTH, omitted when 0
};

// #EXTM3U, #EXT-X-VERSION:3, #EXT-X-INDEPENDENT-SEGMENTS, then per variant:
// #EXT-X-STREAM-INF:BANDWIDTH=..,[AVERAGE-BANDWIDTH=..,]RESOLUTION=WxH,CODECS="..",FRAME-RATE=29.970
// followed by the URI. Lines end with "\n".
std::string master_playlist(const std::vector<Variant>& variants);

struct MediaPlaylistInfo {
  std::vector<std::string> segment_uris;
  std::vector<double> durations;  // same length as segment_uris
  bool ended = false;             // #EXT-X-ENDLIST seen
};

// Tolerant of a playlist that is still being written: only complete lines
// (terminated by '\n') count, and a URI counts only after its #EXTINF.
MediaPlaylistInfo parse_media_playlist(std::string_view text);

}  // namespace rend::hls
