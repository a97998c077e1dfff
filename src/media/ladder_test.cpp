#include "media/ladder.h"

#include <gtest/gtest.h>

namespace rend::media {
namespace {

std::string dims(const std::vector<Rung>& l) {
  std::string s;
  for (const auto& r : l) s += r.name + "=" + std::to_string(r.width) + "x" + std::to_string(r.height) + " ";
  return s;
}

void expect_even(const std::vector<Rung>& l) {
  for (const auto& r : l) {
    EXPECT_EQ(r.width % 2, 0) << r.name;
    EXPECT_EQ(r.height % 2, 0) << r.name;
  }
}

TEST(ChooseLadder, Uhd) {
  auto l = choose_ladder(3840, 2160, true);
  EXPECT_EQ(dims(l), "2160p=3840x2160 1080p=1920x1080 720p=1280x720 360p=640x360 ");
  EXPECT_EQ(l[0].video_kbps, 16000);
  EXPECT_EQ(l[0].audio_kbps, 128);
  EXPECT_EQ(l[0].h264_level, "5.1");
  EXPECT_EQ(l[0].codecs, "avc1.640033,mp4a.40.2");
  EXPECT_EQ(l[3].audio_kbps, 96);
  EXPECT_EQ(l[3].codecs, "avc1.64001e,mp4a.40.2");
  EXPECT_EQ(billing_tier_for(l), "4k");
}

TEST(ChooseLadder, FullHd) {
  auto l = choose_ladder(1920, 1080, true);
  EXPECT_EQ(dims(l), "1080p=1920x1080 720p=1280x720 540p=960x540 360p=640x360 ");
  EXPECT_EQ(l[0].codecs, "avc1.640028,mp4a.40.2");
  EXPECT_EQ(l[0].h264_level, "4.0");
  EXPECT_EQ(l[0].video_kbps, 5500);
  EXPECT_EQ(l[1].video_kbps, 3000);
  EXPECT_EQ(l[1].h264_level, "3.1");
  EXPECT_EQ(l[2].video_kbps, 1800);
  EXPECT_EQ(l[2].audio_kbps, 96);
  EXPECT_EQ(l[2].codecs, "avc1.64001f,mp4a.40.2");
  EXPECT_EQ(l[3].video_kbps, 800);
  EXPECT_EQ(l[3].h264_level, "3.0");
  EXPECT_EQ(billing_tier_for(l), "1080p");
}

TEST(ChooseLadder, PortraitPhone) {
  auto l = choose_ladder(1080, 1920, false);
  EXPECT_EQ(dims(l), "1080p=1080x1920 720p=720x1280 540p=540x960 360p=360x640 ");
  EXPECT_EQ(l[0].codecs, "avc1.640028");
  EXPECT_EQ(l[0].audio_kbps, 0);
  EXPECT_EQ(billing_tier_for(l), "1080p");
}

TEST(ChooseLadder, SmallerSources) {
  EXPECT_EQ(dims(choose_ladder(1280, 720, true)), "720p=1280x720 540p=960x540 360p=640x360 ");
  EXPECT_EQ(billing_tier_for(choose_ladder(1280, 720, true)), "720p");
  EXPECT_EQ(dims(choose_ladder(960, 540, true)), "540p=960x540 360p=640x360 ");
  EXPECT_EQ(dims(choose_ladder(640, 360, true)), "360p=640x360 ");
  EXPECT_EQ(billing_tier_for(choose_ladder(640, 360, true)), "720p");
  auto tiny = choose_ladder(426, 240, true);
  EXPECT_EQ(dims(tiny), "240p=426x240 ");
  EXPECT_EQ(tiny[0].h264_level, "3.0");
  EXPECT_EQ(tiny[0].audio_kbps, 96);
  EXPECT_GT(tiny[0].video_kbps, 0);
  EXPECT_EQ(billing_tier_for(tiny), "720p");
  EXPECT_EQ(dims(choose_ladder(2560, 1440, true)), "1440p=2560x1440 1080p=1920x1080 720p=1280x720 360p=640x360 ");
  EXPECT_EQ(billing_tier_for(choose_ladder(2560, 1440, true)), "2k");
  EXPECT_EQ(choose_ladder(2560, 1440, true)[0].codecs, "avc1.640032,mp4a.40.2");
}

TEST(ChooseLadder, OddSizesStayEvenAndKeepAspect) {
  auto l = choose_ladder(1918, 1080, true);
  EXPECT_EQ(dims(l), "1080p=1918x1080 720p=1278x720 540p=960x540 360p=640x360 ");
  expect_even(l);
  for (auto [w, h] : {std::pair{427, 241}, {1917, 1081}, {1081, 1917}, {3, 3}, {853, 480}, {4096, 2160}}) {
    auto l2 = choose_ladder(w, h, false);
    ASSERT_FALSE(l2.empty());
    expect_even(l2);
    EXPECT_LE(l2[0].width, w);
    EXPECT_LE(l2[0].height, h);
    EXPECT_LE(l2.size(), 4u);
  }
  EXPECT_TRUE(choose_ladder(0, 0, false).empty());
}

TEST(ChooseLadder, CappedAtTheHighestAllowedTier) {
  // A plan without 4K or 2K: a 1440p source gets a 1080p top rung, billed 1080p.
  auto l = choose_ladder(2560, 1440, false, max_short_side_for_tier("1080p"));
  EXPECT_EQ(dims(l), "1080p=1920x1080 720p=1280x720 540p=960x540 360p=640x360 ");
  EXPECT_EQ(billing_tier_for(l), "1080p");
  l = choose_ladder(3840, 2160, true, max_short_side_for_tier("2k"));
  EXPECT_EQ(dims(l), "1440p=2560x1440 1080p=1920x1080 720p=1280x720 360p=640x360 ");
  EXPECT_EQ(billing_tier_for(l), "2k");
  // Portrait keeps its orientation under the cap.
  l = choose_ladder(1080, 1920, true, max_short_side_for_tier("720p"));
  EXPECT_EQ(dims(l), "720p=720x1280 540p=540x960 360p=360x640 ");
  EXPECT_EQ(billing_tier_for(l), "720p");
  // A cap above the source changes nothing; 4k (or none) is no cap.
  EXPECT_EQ(dims(choose_ladder(1280, 720, true, 1080)), dims(choose_ladder(1280, 720, true)));
  EXPECT_EQ(dims(choose_ladder(3840, 2160, true, max_short_side_for_tier("4k"))),
            dims(choose_ladder(3840, 2160, true)));
  EXPECT_EQ(max_short_side_for_tier("720p"), 720);
  EXPECT_EQ(max_short_side_for_tier("2k"), 1440);
  EXPECT_EQ(max_short_side_for_tier("4k"), 0);
}

TEST(CodecsForSource, ProfilesAndLevels) {
  SourceInfo i;
  i.video_codec = "h264";
  i.profile = "High";
  i.level = 40;
  i.has_audio = true;
  EXPECT_EQ(codecs_for_source(i), "avc1.640028,mp4a.40.2");
  i.profile = "Main";
  i.level = 31;
  EXPECT_EQ(codecs_for_source(i), "avc1.4D401f,mp4a.40.2");
  i.profile = "Constrained Baseline";
  i.level = 30;
  i.has_audio = false;
  EXPECT_EQ(codecs_for_source(i), "avc1.42E01e");
  i.profile = "Baseline";
  i.level = 51;
  EXPECT_EQ(codecs_for_source(i), "avc1.42E033");
}

// The first rendition is playable after one second of video, then the segments join
// the ladder's grid (keyframe-aligned: one schedule for every rung).
TEST(KeyframeTimes, ShortFirstSegmentsThenTheGrid) {
  auto str = [](const std::vector<double>& v) {
    std::string s;
    for (double t : v) s += std::to_string(int(t)) + " ";
    return s;
  };
  EXPECT_EQ(str(keyframe_times(4, 13)), "0 1 2 4 8 12 ");
  EXPECT_EQ(str(keyframe_times(4, 12)), "0 1 2 4 8 ");
  EXPECT_EQ(str(keyframe_times(4, 0.5)), "0 ");
  EXPECT_EQ(str(keyframe_times(6, 13)), "0 1 2 6 12 ");
  EXPECT_EQ(str(keyframe_times(2, 7)), "0 1 2 4 6 ");
  EXPECT_EQ(str(keyframe_times(1, 3.5)), "0 1 2 3 ");
}

TEST(KeyframeTimes, FfmpegExpressionForcesTheSameTimes) {
  EXPECT_EQ(force_key_frames_expr(4), "expr:if(lt(n_forced,3),gte(t,n_forced),gte(t,4*(n_forced-2)))");
  EXPECT_EQ(force_key_frames_expr(6), "expr:if(lt(n_forced,3),gte(t,n_forced),gte(t,6*(n_forced-2)))");
  EXPECT_EQ(force_key_frames_expr(2), "expr:if(lt(n_forced,2),gte(t,n_forced),gte(t,2*(n_forced-1)))");
  EXPECT_EQ(force_key_frames_expr(1), "expr:if(lt(n_forced,1),gte(t,n_forced),gte(t,1*(n_forced-0)))");
  // That ffmpeg cuts the segments there: PipelineRun.RotatedHevcIsTranscodedUpright.
}

}  // namespace
}  // namespace rend::media
