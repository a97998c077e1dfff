#include "media/storyboard.h"

#include <gtest/gtest.h>

#include <sstream>

namespace rend::media {
namespace {

SourceInfo source(int w, int h, double seconds) {
  SourceInfo i;
  i.width = w;
  i.height = h;
  i.duration_s = seconds;
  i.demuxer = "mov";
  return i;
}

std::string joined(const std::vector<std::string>& a) {
  std::string s;
  for (const auto& x : a) s += x + "\n";
  return s;
}

TEST(StoryboardPlan, TwoSecondTilesUntilTheTileBudgetThenLonger) {
  auto p = storyboard_plan(source(640, 360, 60));
  EXPECT_EQ(p.interval_ms, 2000);
  EXPECT_EQ(p.tiles, 30);
  EXPECT_EQ(p.tile_width, 160);
  EXPECT_EQ(p.tile_height, 90);
  EXPECT_EQ(p.columns, 10);
  EXPECT_EQ(p.rows, 3);
  EXPECT_EQ(p.sheets(), 1);

  auto hour = storyboard_plan(source(1920, 1080, 3600));
  EXPECT_EQ(hour.interval_ms, 18000);
  EXPECT_EQ(hour.tiles, 200);
  EXPECT_EQ(hour.columns, 10);
  EXPECT_EQ(hour.rows, 10);
  EXPECT_EQ(hour.sheets(), 2);

  // Six hours: still at most kStoryboardMaxTiles (+1 for the millisecond rounding).
  auto six = storyboard_plan(source(1920, 1080, 6 * 3600 + 0.37));
  EXPECT_LE(six.tiles, kStoryboardMaxTiles + 1);
  EXPECT_GE(double(six.tiles) * six.interval_ms, (6 * 3600 + 0.37) * 1000);
}

TEST(StoryboardPlan, ShortAndPortraitSources) {
  auto s = storyboard_plan(source(640, 360, 7));
  EXPECT_EQ(s.tiles, 4);  // 0, 2, 4, 6 s
  EXPECT_EQ(s.columns, 4);
  EXPECT_EQ(s.rows, 1);
  auto tiny = storyboard_plan(source(640, 360, 0.5));
  EXPECT_EQ(tiny.tiles, 1);
  auto portrait = storyboard_plan(source(360, 640, 10));
  EXPECT_EQ(portrait.tile_width, 160);
  EXPECT_EQ(portrait.tile_height, 284);  // aspect kept, even
  EXPECT_EQ(storyboard_plan(source(0, 0, 10)).tiles, 0);
  EXPECT_EQ(storyboard_plan(source(640, 360, 0)).tiles, 0);
}

// The storyboard is a branch of the ladder's filter graph (the ladder's decode, no
// second one): fps picks a frame per interval, scale and tile make the sheets, and an
// image2 output of their own writes them, pinned to the file protocol.
TEST(StoryboardBranch, FpsScaleTileAndAnImage2OutputOfItsOwn) {
  auto info = source(640, 360, 60);
  EXPECT_EQ(storyboard_filter(storyboard_plan(info)), "fps=1000/2000:eof_action=pass,scale=160:90,setsar=1,tile=10x3");
  std::string j = joined(storyboard_output_args("[sb]", "/w/storyboard"));
  EXPECT_EQ(j,
            "-map\n[sb]\n-c:v\nmjpeg\n-q:v\n5\n-f\nimage2\n-protocol_whitelist\nfile\n/w/storyboard/"
            "sheet_%04d.jpg\n")
      << j;
}

TEST(StoryboardVtt, CuesCoverTheDurationWithTilesInReadingOrder) {
  auto p = storyboard_plan(source(640, 360, 25));  // 13 tiles, 10 x 2
  std::string vtt = storyboard_vtt(p, 1, 25);
  EXPECT_TRUE(vtt.starts_with("WEBVTT\n\n")) << vtt;
  EXPECT_NE(vtt.find("00:00:00.000 --> 00:00:02.000\nstoryboard/sheet_0001.jpg#xywh=0,0,160,90\n"), std::string::npos)
      << vtt;
  EXPECT_NE(vtt.find("00:00:20.000 --> 00:00:22.000\nstoryboard/sheet_0001.jpg#xywh=0,90,160,90\n"), std::string::npos)
      << vtt;
  EXPECT_TRUE(vtt.ends_with("00:00:24.000 --> 00:00:25.000\nstoryboard/sheet_0001.jpg#xywh=320,90,160,90\n\n")) << vtt;
  std::istringstream in(vtt);
  int cues = 0;
  for (std::string line; std::getline(in, line);) cues += line.find("-->") != std::string::npos;
  EXPECT_EQ(cues, 13);
}

TEST(StoryboardVtt, SecondSheetAndFewerSheetsThanPlanned) {
  auto p = storyboard_plan(source(640, 360, 3600));  // 200 tiles of 18 s on 2 sheets
  std::string vtt = storyboard_vtt(p, 2, 3600);
  EXPECT_NE(vtt.find("00:30:00.000 --> 00:30:18.000\nstoryboard/sheet_0002.jpg#xywh=0,0,160,90\n"), std::string::npos);
  EXPECT_TRUE(vtt.ends_with("00:59:42.000 --> 01:00:00.000\nstoryboard/sheet_0002.jpg#xywh=1440,810,160,90\n\n"));
  // Only one sheet came out: its last tile stretches to the end, nothing points at sheet 2.
  std::string short_vtt = storyboard_vtt(p, 1, 3600);
  EXPECT_EQ(short_vtt.find("sheet_0002"), std::string::npos);
  EXPECT_TRUE(short_vtt.ends_with("00:29:42.000 --> 01:00:00.000\nstoryboard/sheet_0001.jpg#xywh=1440,810,160,90\n\n"))
      << short_vtt.substr(short_vtt.size() - 200);
  EXPECT_EQ(storyboard_vtt(p, 0, 3600), "");
}

TEST(StoryboardVtt, Timestamps) {
  EXPECT_EQ(vtt_timestamp(0), "00:00:00.000");
  EXPECT_EQ(vtt_timestamp(3723004), "01:02:03.004");
  EXPECT_EQ(storyboard_sheet_name(0), "sheet_0001.jpg");
  EXPECT_EQ(storyboard_sheet_name(11), "sheet_0012.jpg");
}

}  // namespace
}  // namespace rend::media
