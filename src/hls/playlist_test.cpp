#include "hls/playlist.h"

#include <gtest/gtest.h>

namespace rend::hls {
namespace {

TEST(MasterPlaylist, ExactText) {
  std::vector<Variant> v = {
      {"1080p/index.m3u8", 6190000, 1920, 1080, "avc1.640028,mp4a.40.2", 30000.0 / 1001, 0},
      {"720p/index.m3u8", 3440800, 1280, 720, "avc1.64001f,mp4a.40.2", 30, 2100000},
  };
  EXPECT_EQ(master_playlist(v),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=6190000,RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\","
            "FRAME-RATE=29.970\n"
            "1080p/index.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=3440800,AVERAGE-BANDWIDTH=2100000,RESOLUTION=1280x720,"
            "CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n"
            "720p/index.m3u8\n");
}

TEST(MasterPlaylist, NoFrameRateWhenUnknown) {
  EXPECT_EQ(master_playlist({{"src/index.m3u8", 1000, 640, 360, "avc1.42E01e", 0, 0}}),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=640x360,CODECS=\"avc1.42E01e\"\nsrc/index.m3u8\n");
}

TEST(ParseMediaPlaylist, FfmpegEventThenEnded) {
  std::string event =
      "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
      "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n"
      "#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:4.004000,\r\nseg_00001.ts\r\n";
  auto p = parse_media_playlist(event);
  ASSERT_EQ(p.segment_uris, (std::vector<std::string>{"seg_00000.ts", "seg_00001.ts"}));
  EXPECT_DOUBLE_EQ(p.durations[0], 4.0);
  EXPECT_DOUBLE_EQ(p.durations[1], 4.004);
  EXPECT_FALSE(p.ended);

  auto done = parse_media_playlist(event + "#EXTINF:2.000000,\nseg_00002.ts\n#EXT-X-ENDLIST\n");
  EXPECT_EQ(done.segment_uris.size(), 3u);
  EXPECT_TRUE(done.ended);
}

TEST(ParseMediaPlaylist, IgnoresIncompleteTail) {
  auto p = parse_media_playlist("#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:4.0,\nseg_000");
  EXPECT_EQ(p.segment_uris, (std::vector<std::string>{"seg_00000.ts"}));
  EXPECT_TRUE(parse_media_playlist("").segment_uris.empty());
  // A URI without #EXTINF is not a segment.
  EXPECT_TRUE(parse_media_playlist("#EXTM3U\nstray.ts\n").segment_uris.empty());
}

}  // namespace
}  // namespace rend::hls
