#include "playback/paths.h"

#include <gtest/gtest.h>

#include <string>

using namespace rend::playback;

namespace {
const std::string kId = "ast_abcdefghijklmnopqrstuvwxyz";
const std::string kV = "/v/" + kId + "/";
}  // namespace

TEST(Paths, MasterPlaylist) {
  auto r = parse_playback_target(kV + "master.m3u8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->asset_id, kId);
  EXPECT_EQ(r->path, "master.m3u8");
  EXPECT_EQ(r->kind, ArtifactKind::master);
  EXPECT_EQ(r->tier, "");
  EXPECT_EQ(object_key_for(*r), "assets/" + kId + "/master.m3u8");
}

TEST(Paths, MediaPlaylistAndSegments) {
  auto p = parse_playback_target(kV + "720p/index.m3u8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ArtifactKind::playlist);
  EXPECT_EQ(p->tier, "720p");

  auto s = parse_playback_target(kV + "720p/seg_00001.ts");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, ArtifactKind::segment);
  EXPECT_EQ(s->tier, "720p");
  EXPECT_EQ(s->path, "720p/seg_00001.ts");
  EXPECT_EQ(object_key_for(*s), "assets/" + kId + "/720p/seg_00001.ts");

  for (const char* name : {"1080p/init.mp4", "1080p/seg_1.m4s", "audio/seg_1.aac"}) {
    auto r = parse_playback_target(kV + name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->kind, ArtifactKind::segment) << name;
  }
  // A nested master.m3u8 is just a playlist; only the root one is the master.
  auto nested = parse_playback_target(kV + "720p/master.m3u8");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->kind, ArtifactKind::playlist);
}

TEST(Paths, PosterAndOther) {
  auto p = parse_playback_target(kV + "poster.jpg");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ArtifactKind::poster);
  EXPECT_EQ(p->tier, "");
  auto t = parse_playback_target(kV + "thumbs/t_0001.jpg");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, ArtifactKind::other);
  EXPECT_EQ(t->tier, "thumbs");
  auto v = parse_playback_target(kV + "subs/en.vtt");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->kind, ArtifactKind::other);
  auto three = parse_playback_target(kV + "a/b/c.ts");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->tier, "a");
  EXPECT_EQ(three->path, "a/b/c.ts");
}

TEST(Paths, NameLengthLimit) {
  std::string ok_name = std::string(125, 'a') + ".ts";  // 128
  EXPECT_TRUE(parse_playback_target(kV + ok_name));
  EXPECT_FALSE(parse_playback_target(kV + "a" + ok_name));  // 129
  EXPECT_TRUE(parse_playback_target(kV + std::string(128, 'd') + "/x.ts"));
  EXPECT_FALSE(parse_playback_target(kV + std::string(129, 'd') + "/x.ts"));
}

TEST(Paths, TraversalAndEncodingAttemptsRefused) {
  const std::vector<std::string> bad = {
      "/v/ast_x/../x",
      kV + "..%2fsecret",
      kV + "%2e%2e/x",
      kV + "%2E%2E/x",
      kV + "a%2fb.ts",
      kV + "seg%2ets",
      kV + "%252e%252e/x.ts",
      kV + "/etc/passwd",  // "//" after the id
      kV + "/seg.ts",
      kV + "a//b.ts",
      kV + ".hidden.ts",
      kV + "720p/.hidden.ts",
      kV + ".",
      kV + "..",
      kV + "./seg.ts",
      kV + "../seg.ts",
      kV + "720p/../seg.ts",
      kV + "720p/./seg.ts",
      kV + "a\\b.ts",
      kV + "..\\..\\x.ts",
      kV + "seg.ts%00.jpg",
      kV + std::string("seg.ts\0.jpg", 11),
      kV + "seg\n.ts",
      kV + "seg\r.ts",
      kV + "seg\t.ts",
      kV + "seg\x7f.ts",
      kV + "s\xc3\xa9g.ts",  // non-ASCII
      kV + "seg .ts",
      kV + "seg.ts?x=1",
      kV + "seg.ts#frag",
      kV + "se:g.ts",
      kV + "~user.ts",
      "/v/../etc/passwd",
      "/v/" + kId + "/../../etc/passwd",
      "/v/" + kId + "/..",
  };
  for (const auto& p : bad) EXPECT_FALSE(parse_playback_target(p)) << p;
}

TEST(Paths, StructureRefused) {
  const std::vector<std::string> bad = {
      "",
      "/",
      "/v",
      "/v/",
      "/v/" + kId,
      "/v/" + kId + "/",
      kV + "720p/",
      kV + "a/b/c/d.ts",  // four segments
      kV + "seg.exe",
      kV + "seg.m3u",
      kV + "seg.TS",  // extensions are case-sensitive
      kV + "seg.ts.",
      kV + "seg",
      kV + "ts",
      kV + "720p",
      kV + "seg.html",
      kV + "seg.json",
      "v/" + kId + "/seg.ts",  // missing leading '/'
      "//v/" + kId + "/seg.ts",
      "/V/" + kId + "/seg.ts",
      "/x/" + kId + "/seg.ts",
      "/v/ast_short/seg.ts",
      "/v/AST_ABCDEFGHIJKLMNOPQRSTUVWXYZ/seg.ts",
      "/v/ast_abcdefghijklmnopqrstuvwxy1/seg.ts",  // '1' is not base32
      "/v/ast_abcdefghijklmnopqrstuvwxyz0/seg.ts",
      "/v/_abcdefghijklmnopqrstuvwxyz/seg.ts",
  };
  for (const auto& p : bad) EXPECT_FALSE(parse_playback_target(p)) << p;
}

TEST(Paths, ObjectKey) {
  ArtifactRef r{kId, "480p/seg_2.ts", ArtifactKind::segment, "480p"};
  EXPECT_EQ(object_key_for(r), "assets/" + kId + "/480p/seg_2.ts");
}

// The storyboard (media/storyboard.h) and the edge's rendered thumbnail.
TEST(Paths, StoryboardAndThumbnail) {
  auto vtt = parse_playback_target(kV + "storyboard.vtt");
  ASSERT_TRUE(vtt);
  EXPECT_EQ(vtt->kind, ArtifactKind::other);
  EXPECT_EQ(content_type_for(vtt->path), "text/vtt");
  auto sheet = parse_playback_target(kV + "storyboard/sheet_0001.jpg");
  ASSERT_TRUE(sheet);
  EXPECT_EQ(sheet->kind, ArtifactKind::other);
  EXPECT_EQ(object_key_for(*sheet), "assets/ast_abcdefghijklmnopqrstuvwxyz/storyboard/sheet_0001.jpg");
  EXPECT_EQ(content_type_for(sheet->path), "image/jpeg");
  auto thumb = parse_playback_target(kV + "thumbnail.jpg");
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->kind, ArtifactKind::thumbnail);
  EXPECT_EQ(cache_control_for(thumb->kind), "private, max-age=31536000, immutable");
  // Only at the root: elsewhere it is an ordinary stored picture.
  EXPECT_EQ(parse_playback_target(kV + "storyboard/thumbnail.jpg")->kind, ArtifactKind::other);
  // The edge caches rendered thumbnails under four segments below the asset: unreachable.
  EXPECT_FALSE(parse_playback_target(kV + "thumb/125/640/thumbnail.jpg"));
}

TEST(Paths, ContentTypes) {
  EXPECT_EQ(content_type_for("master.m3u8"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(content_type_for("720p/index.m3u8"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(content_type_for("720p/seg_1.ts"), "video/mp2t");
  EXPECT_EQ(content_type_for("seg.m4s"), "video/mp4");
  EXPECT_EQ(content_type_for("init.mp4"), "video/mp4");
  EXPECT_EQ(content_type_for("a.aac"), "audio/aac");
  EXPECT_EQ(content_type_for("poster.jpg"), "image/jpeg");
  EXPECT_EQ(content_type_for("en.vtt"), "text/vtt");
  EXPECT_EQ(content_type_for("x.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_for("noext"), "application/octet-stream");
  EXPECT_EQ(content_type_for("dir.ts/noext"), "application/octet-stream");
  EXPECT_EQ(content_type_for(""), "application/octet-stream");
  EXPECT_EQ(content_type_for("x.TS"), "application/octet-stream");
}

TEST(Paths, PlaylistsAreTheMasterAndMediaPlaylists) {
  EXPECT_TRUE(is_playlist(ArtifactKind::master));
  EXPECT_TRUE(is_playlist(ArtifactKind::playlist));
  EXPECT_FALSE(is_playlist(ArtifactKind::segment));
  EXPECT_FALSE(is_playlist(ArtifactKind::poster));
  EXPECT_FALSE(is_playlist(ArtifactKind::other));
}

TEST(Paths, CacheControlPerArtifactKind) {
  // Playlists change while an asset transcodes (EVENT playlists, the fast-path master
  // replaced by the ladder's): a browser may keep one a second. Everything else never
  // changes under its name. All of it is credentialed: private, never in a shared cache.
  EXPECT_EQ(cache_control_for(ArtifactKind::master), "private, max-age=1");
  EXPECT_EQ(cache_control_for(ArtifactKind::playlist), "private, max-age=1");
  for (auto k : {ArtifactKind::segment, ArtifactKind::poster, ArtifactKind::other})
    EXPECT_EQ(cache_control_for(k), "private, max-age=31536000, immutable");
  // Every kind the parser produces has one.
  for (const char* p : {"master.m3u8", "720p/index.m3u8", "720p/seg_00001.ts", "poster.jpg", "subs/en.vtt"}) {
    auto r = parse_playback_target(kV + p);
    ASSERT_TRUE(r) << p;
    EXPECT_EQ(cache_control_for(r->kind).rfind("private, max-age=", 0), 0u) << p;
  }
}
