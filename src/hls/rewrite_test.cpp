#include "hls/rewrite.h"

#include <gtest/gtest.h>

using rend::hls::add_query_to_playlist_uris;

TEST(PlaylistRewrite, MasterPlaylist) {
  const std::string in =
      "#EXTM3U\n"
      "#EXT-X-VERSION:6\n"
      "#EXT-X-INDEPENDENT-SEGMENTS\n"
      "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English, main\",LANGUAGE=\"en\",URI=\"audio/index.m3u8\"\n"
      "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC\",INSTREAM-ID=\"CC1\"\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"aud\"\n"
      "720p/index.m3u8\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",AUDIO=\"aud\"\n"
      "360p/index.m3u8\n"
      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI=\"720p/iframe.m3u8\"\n"
      "#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"keys/k1\"\n";
  const std::string want =
      "#EXTM3U\n"
      "#EXT-X-VERSION:6\n"
      "#EXT-X-INDEPENDENT-SEGMENTS\n"
      "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English, main\",LANGUAGE=\"en\",URI=\"audio/index.m3u8?token=v1.k1.9.ast_x.s-_\"\n"
      "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"CC\",INSTREAM-ID=\"CC1\"\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"aud\"\n"
      "720p/index.m3u8?token=v1.k1.9.ast_x.s-_\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",AUDIO=\"aud\"\n"
      "360p/index.m3u8?token=v1.k1.9.ast_x.s-_\n"
      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI=\"720p/iframe.m3u8?token=v1.k1.9.ast_x.s-_\"\n"
      "#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"keys/k1?token=v1.k1.9.ast_x.s-_\"\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "token", "v1.k1.9.ast_x.s-_"), want);
}

TEST(PlaylistRewrite, MediaPlaylistWithMap) {
  const std::string in =
      "#EXTM3U\n"
      "#EXT-X-TARGETDURATION:6\n"
      "#EXT-X-VERSION:7\n"
      "#EXT-X-MEDIA-SEQUENCE:0\n"
      "#EXT-X-PLAYLIST-TYPE:VOD\n"
      "#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\n"
      "#EXT-X-KEY:METHOD=AES-128,URI=\"/keys/abc\",IV=0x0123456789abcdef0123456789abcdef\n"
      "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z\n"
      "#EXTINF:6.000,\n"
      "seg_00001.m4s\n"
      "# a comment with URI=\"x.ts\"\n"
      "#EXTINF:6.000,URI=\"title.ts\"\n"
      "#EXT-X-BYTERANGE:1000@0\n"
      "seg_00002.m4s\n"
      "\n"
      "#EXT-X-ENDLIST";  // no final newline
  const std::string want =
      "#EXTM3U\n"
      "#EXT-X-TARGETDURATION:6\n"
      "#EXT-X-VERSION:7\n"
      "#EXT-X-MEDIA-SEQUENCE:0\n"
      "#EXT-X-PLAYLIST-TYPE:VOD\n"
      "#EXT-X-MAP:URI=\"init.mp4?t=abc\",BYTERANGE=\"720@0\"\n"
      "#EXT-X-KEY:METHOD=AES-128,URI=\"/keys/abc?t=abc\",IV=0x0123456789abcdef0123456789abcdef\n"
      "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z\n"
      "#EXTINF:6.000,\n"
      "seg_00001.m4s?t=abc\n"
      "# a comment with URI=\"x.ts\"\n"
      "#EXTINF:6.000,URI=\"title.ts\"\n"
      "#EXT-X-BYTERANGE:1000@0\n"
      "seg_00002.m4s?t=abc\n"
      "\n"
      "#EXT-X-ENDLIST";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "abc"), want);
}

TEST(PlaylistRewrite, CrlfPreserved) {
  const std::string in =
      "#EXTM3U\r\n"
      "#EXT-X-MAP:URI=\"init.mp4\"\r\n"
      "#EXTINF:4,\r\n"
      "seg1.ts\r\n"
      "\r\n"
      "#EXTINF:4,\n"  // mixed endings are kept as they are
      "seg2.ts\r\n";
  const std::string want =
      "#EXTM3U\r\n"
      "#EXT-X-MAP:URI=\"init.mp4?t=x\"\r\n"
      "#EXTINF:4,\r\n"
      "seg1.ts?t=x\r\n"
      "\r\n"
      "#EXTINF:4,\n"
      "seg2.ts?t=x\r\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "x"), want);
}

TEST(PlaylistRewrite, ExistingQuery) {
  const std::string in =
      "a.ts?x=1\n"
      "b.ts?x=1&y=2\n"
      "c.ts?\n"
      "d.ts#frag\n"
      "e.ts?x=1#frag\n"
      "#EXT-X-MAP:URI=\"init.mp4?v=3\"\n";
  const std::string want =
      "a.ts?x=1&t=v\n"
      "b.ts?x=1&y=2&t=v\n"
      "c.ts?t=v\n"
      "d.ts?t=v#frag\n"
      "e.ts?x=1&t=v#frag\n"
      "#EXT-X-MAP:URI=\"init.mp4?v=3&t=v\"\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "v"), want);
}

TEST(PlaylistRewrite, ExistingKeyReplacedNotDuplicated) {
  const std::string in =
      "a.ts?token=old\n"
      "b.ts?x=1&token=old&y=2\n"
      "c.ts?token=old&token=older\n"
      "d.ts?token\n"
      "e.ts?tokens=keep&xtoken=keep\n"
      "#EXT-X-MAP:URI=\"init.mp4?token=old\"\n";
  const std::string want =
      "a.ts?token=new\n"
      "b.ts?x=1&y=2&token=new\n"
      "c.ts?token=new\n"
      "d.ts?token=new\n"
      "e.ts?tokens=keep&xtoken=keep&token=new\n"
      "#EXT-X-MAP:URI=\"init.mp4?token=new\"\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "token", "new"), want);
  // Idempotent: rewriting again changes nothing.
  EXPECT_EQ(add_query_to_playlist_uris(want, "token", "new"), want);
}

TEST(PlaylistRewrite, AbsoluteAndForeignUrisUntouched) {
  const std::string in =
      "#EXTM3U\n"
      "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://key-id\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n"
      "#EXT-X-MAP:URI=\"https://other.example/init.mp4\"\n"
      "#EXT-X-SESSION-DATA:DATA-ID=\"com.example\",URI=\"data:application/json,{}\"\n"
      "http://other/seg1.ts\n"
      "HTTPS://other/seg2.ts?x=1\n"
      "//other/seg3.ts\n"
      "svc+v1.x-y:opaque\n"
      "/abs/path/seg4.ts\n"
      "rel/seg5.ts\n";
  const std::string want =
      "#EXTM3U\n"
      "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://key-id\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n"
      "#EXT-X-MAP:URI=\"https://other.example/init.mp4\"\n"
      "#EXT-X-SESSION-DATA:DATA-ID=\"com.example\",URI=\"data:application/json,{}\"\n"
      "http://other/seg1.ts\n"
      "HTTPS://other/seg2.ts?x=1\n"
      "//other/seg3.ts\n"
      "svc+v1.x-y:opaque\n"
      "/abs/path/seg4.ts?t=v\n"
      "rel/seg5.ts?t=v\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "v"), want);
}

TEST(PlaylistRewrite, ColonAfterPathIsNotAScheme) {
  // RFC 3986 section 4.2: a ':' after the first '/' does not start a scheme.
  EXPECT_EQ(add_query_to_playlist_uris("seg/a:b.ts\n", "t", "v"), "seg/a:b.ts?t=v\n");
  EXPECT_EQ(add_query_to_playlist_uris("./a:b.ts\n", "t", "v"), "./a:b.ts?t=v\n");
}

TEST(PlaylistRewrite, ValuePercentEncoded) {
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\n", "t", "A-z_0.9~"), "a.ts?t=A-z_0.9~\n");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\n", "t", "a b&c=d/e?f#g\"h+%"),
            "a.ts?t=a%20b%26c%3Dd%2Fe%3Ff%23g%22h%2B%25\n");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\n", "t", std::string("\xff\n", 2)), "a.ts?t=%FF%0A\n");
  // The encoded value cannot break out of a quoted attribute.
  EXPECT_EQ(add_query_to_playlist_uris("#EXT-X-MAP:URI=\"i.mp4\"\n", "t", "\",X=\"y"),
            "#EXT-X-MAP:URI=\"i.mp4?t=%22%2CX%3D%22y\"\n");
}

TEST(PlaylistRewrite, EverythingElseByteForByte) {
  const std::string in =
      "#EXTM3U\n"
      "#EXT-X-DATERANGE:ID=\"ad\",START-DATE=\"2024-01-01T00:00:00Z\",X-URI=\"keep.ts\"\n"
      "#EXT-X-CUSTOM:weird text URI=\"keep.ts\"\n"  // not an attribute list: untouched
      "#EXT-X-BROKEN:URI=\"unterminated\n"
      "#EXT-X-START:TIME-OFFSET=-10.5,PRECISE=YES\n"
      "   \n"
      "seg.ts  \n"
      "#EXT-X-ENDLIST\n";
  const std::string want =
      "#EXTM3U\n"
      "#EXT-X-DATERANGE:ID=\"ad\",START-DATE=\"2024-01-01T00:00:00Z\",X-URI=\"keep.ts\"\n"
      "#EXT-X-CUSTOM:weird text URI=\"keep.ts\"\n"
      "#EXT-X-BROKEN:URI=\"unterminated\n"
      "#EXT-X-START:TIME-OFFSET=-10.5,PRECISE=YES\n"
      "   \n"
      "seg.ts?t=v  \n"
      "#EXT-X-ENDLIST\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "v"), want);
}

TEST(PlaylistRewrite, LowLatencyTags) {
  const std::string in =
      "#EXT-X-PART:DURATION=0.5,URI=\"part1.m4s\",INDEPENDENT=YES\n"
      "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part2.m4s\"\n"
      "#EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=10\n";
  const std::string want =
      "#EXT-X-PART:DURATION=0.5,URI=\"part1.m4s?t=v\",INDEPENDENT=YES\n"
      "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part2.m4s?t=v\"\n"
      "#EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8?t=v\",LAST-MSN=10\n";
  EXPECT_EQ(add_query_to_playlist_uris(in, "t", "v"), want);
}

TEST(PlaylistRewrite, EdgeInputs) {
  EXPECT_EQ(add_query_to_playlist_uris("", "t", "v"), "");
  EXPECT_EQ(add_query_to_playlist_uris("\n\n", "t", "v"), "\n\n");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts", "t", "v"), "a.ts?t=v");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\r", "t", "v"), "a.ts?t=v\r");
  EXPECT_EQ(add_query_to_playlist_uris("#EXT-X-MAP:URI=\"\"\n", "t", "v"), "#EXT-X-MAP:URI=\"\"\n");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\n", "", "v"), "a.ts\n");
  EXPECT_EQ(add_query_to_playlist_uris("a.ts\n", "t", ""), "a.ts?t=\n");
}

// The rewriter reads lines as media::parse_media_playlist does (fuzz findings): an
// indented tag is a tag, a line of white space and CRs is blank, and white space
// around a URI stays outside it.
TEST(PlaylistRewrite, LinesReadAsTheParserReadsThem) {
  EXPECT_EQ(add_query_to_playlist_uris("  #EXTINF:4,\nseg.ts\n", "t", "v"), "  #EXTINF:4,\nseg.ts?t=v\n");
  EXPECT_EQ(add_query_to_playlist_uris("\r\r\nseg.ts\r\n", "t", "v"), "\r\r\nseg.ts?t=v\r\n");
  EXPECT_EQ(add_query_to_playlist_uris("  seg.ts\r\r\n", "t", "v"), "  seg.ts?t=v\r\r\n");
}
