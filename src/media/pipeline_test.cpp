#include "media/pipeline.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/testing/scripted_runner.h"
#include "hls/playlist.h"
#include "media/errors.h"
#include "media/stage.h"
#include "media/stages.h"
#include "media/testing/fake_media.h"
#include "store/factory.h"
#include "store/testing/failing_objects.h"

namespace rend::media {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- pure helpers

// A 30 s 1080p30 .mov source with audio, as the ladder command tests describe it.
SourceInfo source_1080p30() {
  SourceInfo i;
  i.fps = 30;
  i.has_audio = true;
  i.demuxer = "mov";
  i.width = 1920;
  i.height = 1080;
  i.duration_s = 30;
  return i;
}

// The command's arguments, one per line (each followed by a newline).
std::string one_per_line(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& s : args) out += s + "\n";
  return out;
}

TEST(FastPath, Eligibility) {
  SourceInfo i;
  i.video_codec = "h264";
  i.pix_fmt = "yuv420p";
  i.profile = "High";
  i.fps = 30;
  i.width = 1920;
  i.height = 1080;
  i.has_audio = true;
  i.audio_codec = "aac";
  EXPECT_TRUE(fast_path_eligible(i));
  auto with = [&](auto f) {
    SourceInfo c = i;
    f(c);
    return fast_path_eligible(c);
  };
  EXPECT_TRUE(with([](SourceInfo& c) {
    c.pix_fmt = "yuvj420p";
    c.profile = "Constrained Baseline";
  }));
  EXPECT_TRUE(with([](SourceInfo& c) {
    c.has_audio = false;
    c.audio_codec.clear();
  }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.video_codec = "hevc"; }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.pix_fmt = "yuv420p10le"; }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.profile = "High 10"; }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.rotation = 90; }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.audio_codec = "opus"; }));
  EXPECT_FALSE(with([](SourceInfo& c) { c.fps = 120; }));
}

TEST(OutputFrameRate, SnapsAndHalves) {
  EXPECT_EQ(output_frame_rate(29.97).expr, "30000/1001");
  EXPECT_EQ(output_frame_rate(29.87).expr, "30000/1001");
  EXPECT_EQ(output_frame_rate(30).expr, "30");
  EXPECT_EQ(output_frame_rate(25).expr, "25");
  EXPECT_EQ(output_frame_rate(120).expr, "60");
  EXPECT_EQ(output_frame_rate(240).expr, "60");
  EXPECT_EQ(output_frame_rate(0).expr, "30");
  EXPECT_EQ(output_frame_rate(15).expr, "15");
  EXPECT_NEAR(output_frame_rate(59.94).value, 59.94, 0.01);
}

TEST(LadderCommand, OneProcessEveryRung) {
  SourceInfo i;
  i.fps = 30;
  i.has_audio = true;
  i.demuxer = "mov";
  auto ladder = choose_ladder(1920, 1080, true);
  auto a = ladder_command("ffmpeg", "/in/src.mp4", i, ladder, "/w/ladder", 4);
  const std::string joined = one_per_line(a);
  // One conversion to 8-bit 4:2:0 before the split, then a cascade: the top rung from
  // the source, the second too, every lower one from the second's frames (less to
  // scale from: ~0.1 CPU-s per 1080p second less than scaling each from the source).
  EXPECT_NE(joined.find(
                "\n[0:V:0]fps=30,format=yuv420p,split=2[s0][s1];[s0]scale=1920:1080,setsar=1[v0];[s1]scale=1280:"
                "720,setsar=1,split=3[v1][c2][c3];[c2]scale=960:540,setsar=1[v2];[c3]scale=640:360,setsar=1[v3]\n"),
            std::string::npos)
      << joined;
  // Short first segments, then the 4 s grid: the keyframes decide where the muxer
  // cuts (it cuts at every keyframe at least -hls_time after the last cut).
  EXPECT_NE(joined.find("\n-force_key_frames\n" + force_key_frames_expr(4) + "\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-hls_time\n1\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-sc_threshold\n0\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\nv:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:540p v:3,a:3,name:360p\n"),
            std::string::npos);
  EXPECT_NE(joined.find("\n-b:v:0\n5500k\n"), std::string::npos);
  EXPECT_NE(joined.find("\n-level:v:3\n3.0\n"), std::string::npos);
  EXPECT_NE(joined.find("\n-b:a:2\n96k\n"), std::string::npos);
  EXPECT_NE(joined.find("\n/w/ladder/%v/seg_%05d.ts\n"), std::string::npos);
  // The upload is opened with the probed demuxer and the file protocol only; the
  // outputs are local files only.
  EXPECT_NE(joined.find("\n-protocol_whitelist\nfile\n-format_whitelist\nmov\n-f\nmov\n-i\nfile:/in/src.mp4\n"),
            std::string::npos)
      << joined;
  EXPECT_TRUE(joined.ends_with("\n-protocol_whitelist\nfile\n/w/ladder/%v/index.m3u8\n")) << joined;
  EXPECT_EQ(joined.find("/bin/sh"), std::string::npos);
  EXPECT_EQ(joined.find("tile="), std::string::npos) << "no storyboard branch unless asked for";
}

// The storyboard rides on the ladder's decode: one more branch of the split and its
// own image2 output, before the HLS output (whose playlist stays the last argument).
TEST(LadderCommand, TheStoryboardIsABranchOfTheLaddersGraph) {
  const SourceInfo i = source_1080p30();
  auto ladder = choose_ladder(1920, 1080, true);
  StoryboardPlan plan = storyboard_plan(i);
  auto a = ladder_command("ffmpeg", "/in/src.mp4", i, ladder, "/w/ladder", 4, &plan, "/w/storyboard");
  const std::string joined = one_per_line(a);
  EXPECT_NE(joined.find("format=yuv420p,split=3[s0][s1][s2];"), std::string::npos) << joined;
  EXPECT_NE(joined.find(";[s2]" + storyboard_filter(plan) + "[sb]\n"), std::string::npos) << joined;
  auto sb = joined.find("\n-map\n[sb]\n-c:v\nmjpeg\n");
  auto hls = joined.find("\n-map\n[v0]\n");
  ASSERT_NE(sb, std::string::npos) << joined;
  EXPECT_LT(sb, hls) << "the sheets' output comes first, so the ladder's options apply to the HLS output";
  EXPECT_NE(joined.find("\n/w/storyboard/sheet_%04d.jpg\n"), std::string::npos) << joined;
  EXPECT_EQ(joined.find("-skip_frame"), std::string::npos) << joined;
  EXPECT_TRUE(joined.ends_with("\n-protocol_whitelist\nfile\n/w/ladder/%v/index.m3u8\n")) << joined;
}

// The poster rides on the ladder's decode too: the frame at 1 s (frame 30 at 30 fps)
// of the split, scaled to a short side of 720, one JPEG written atomically (a
// publisher polling for it never reads half a file).
TEST(LadderCommand, ThePosterIsABranchOfTheLaddersGraph) {
  SourceInfo i = source_1080p30();
  auto ladder = choose_ladder(1920, 1080, true);
  StoryboardPlan plan = storyboard_plan(i);
  auto a = ladder_command("ffmpeg", "/in/src.mp4", i, ladder, "/w/ladder", 4, &plan, "/w/storyboard", "/w/poster.jpg");
  std::string joined = one_per_line(a);
  EXPECT_NE(joined.find("split=4[s0][s1][s2][s3];"), std::string::npos) << joined;
  EXPECT_NE(joined.find(";[s3]trim=start_frame=30:end_frame=31,scale=1280:720,setsar=1[po]"), std::string::npos)
      << joined;
  auto po =
      joined.find("\n-map\n[po]\n-c:v\nmjpeg\n-q:v\n3\n-frames:v\n1\n-f\nimage2\n-update\n1\n-atomic_writing\n1\n");
  ASSERT_NE(po, std::string::npos) << joined;
  EXPECT_LT(po, joined.find("\n-map\n[v0]\n"));
  EXPECT_NE(joined.find("\n/w/poster.jpg\n"), std::string::npos) << joined;
  EXPECT_TRUE(joined.ends_with("\n-protocol_whitelist\nfile\n/w/ladder/%v/index.m3u8\n")) << joined;
  // A clip under 2 s: its middle frame (0.75 s of 1.5 s at 30 fps: frame 23 rounded).
  i.duration_s = 1.5;
  joined = one_per_line(ladder_command("ffmpeg", "/in/src.mp4", i, ladder, "/w/ladder", 4, nullptr, {}, "/w/p.jpg"));
  EXPECT_NE(joined.find("split=3[s0][s1][s2];"), std::string::npos) << joined;
  EXPECT_NE(joined.find(";[s2]trim=start_frame=23:end_frame=24,"), std::string::npos) << joined;
}

// A one- or two-rung ladder has nothing to cascade from: every rung from the split.
TEST(LadderCommand, SmallLaddersScaleFromTheSplit) {
  SourceInfo i;
  i.fps = 25;
  i.demuxer = "mov";
  std::string joined;
  for (const auto& s : ladder_command("ffmpeg", "/in/src.mp4", i, choose_ladder(960, 540, false), "/w/ladder", 4))
    joined += s + "\n";
  EXPECT_NE(joined.find("\n[0:V:0]fps=25,format=yuv420p,split=2[s0][s1];[s0]scale=960:540,setsar=1[v0];[s1]scale=640:"
                        "360,setsar=1[v1]\n"),
            std::string::npos)
      << joined;
  joined.clear();
  for (const auto& s : ladder_command("ffmpeg", "/in/src.mp4", i, choose_ladder(640, 360, false), "/w/ladder", 4))
    joined += s + "\n";
  EXPECT_NE(joined.find("\n[0:V:0]fps=25,format=yuv420p,split=1[s0];[s0]scale=640:360,setsar=1[v0]\n"),
            std::string::npos)
      << joined;
}

// The first rendition: the ladder's lowest rung (size, bitrate, audio, frame rate,
// keyframes), encoded fast and only up to the ladder's first grid keyframe.
TEST(FirstRenditionCommand, LowestRungFastOnlyTheFirstSeconds) {
  SourceInfo i;
  i.fps = 59.94;
  i.has_audio = true;
  i.demuxer = "matroska";
  i.duration_s = 30;
  auto ladder = choose_ladder(1920, 1080, true);
  EXPECT_DOUBLE_EQ(first_rendition_seconds(4, 30), 4.0);
  EXPECT_DOUBLE_EQ(first_rendition_seconds(4, 2.5), 2.5);
  EXPECT_DOUBLE_EQ(first_rendition_seconds(6, 30), 6.0);
  auto a = first_rendition_command("ffmpeg", "/in/src.webm", i, ladder.back(), "/w/first", 4,
                                   first_rendition_seconds(4, i.duration_s));
  std::string joined = one_per_line(a);
  EXPECT_NE(joined.find(
                "\n-protocol_whitelist\nfile\n-format_whitelist\nmatroska\n-f\nmatroska\n-i\nfile:/in/src.webm\n"),
            std::string::npos)
      << joined;
  EXPECT_NE(joined.find("\n-t\n4.000\n"), std::string::npos) << joined;
  // A preview: area averaging (a third of bicubic's CPU at 1080p -> 360p) and the
  // decoder's cheap options (no loop filter, non-compliant speedups) before the input.
  EXPECT_NE(joined.find("\n-vf\nfps=60000/1001,scale=640:360:flags=area,setsar=1\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-skip_loop_filter\nall\n-flags2\n+fast\n-protocol_whitelist\nfile\n"), std::string::npos)
      << joined;
  EXPECT_NE(joined.find("\n-preset\nultrafast\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-pix_fmt\nyuv420p\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-force_key_frames\n" + force_key_frames_expr(4) + "\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-b:v\n800k\n-maxrate:v\n800k\n-bufsize:v\n1600k\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-map\n0:a:0\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-b:a\n96k\n"), std::string::npos) << joined;
  EXPECT_NE(joined.find("\n-hls_time\n1\n"), std::string::npos) << joined;
  EXPECT_TRUE(
      joined.ends_with("\n-hls_segment_filename\n/w/first/seg_%05d.ts\n-protocol_whitelist\nfile\n/w/"
                       "first/index.m3u8\n"))
      << joined;
  i.has_audio = false;
  joined = one_per_line(
      first_rendition_command("ffmpeg", "/in/src.webm", i, choose_ladder(1920, 1080, false).back(), "/w/first", 4, 4));
  EXPECT_EQ(joined.find("0:a:0"), std::string::npos) << joined;
  EXPECT_EQ(joined.find("-c:a"), std::string::npos) << joined;
}

// The first rendition's playlist: its own segments; after the encode, the rung's from
// where they end (4 s), after a discontinuity; the end with the rung's. 29.97 fps
// segments last 4.004 s: the target duration stays 4 (nearest integer, RFC 8216).
TEST(FirstRenditionPlaylist, JoinsTheRungWhereItsOwnSegmentsEnd) {
  stages::FirstRendition f{stages::Rendition{"first", "/w/first", "assets/a/first/"}};
  stages::Rendition rung{"360p", "/w/ladder/360p", "assets/a/360p/"};
  auto add = [](stages::Rendition& r, double d) {
    char name[32];
    std::snprintf(name, sizeof name, "seg_%05zu.ts", r.uploaded);
    r.uris.push_back(name);
    r.durations.push_back(d);
    ++r.uploaded;
  };
  add(f.fast, 1.001);
  const std::string head =
      "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
      "#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:1.001000,\nseg_00000.ts\n";
  EXPECT_EQ(f.playlist(rung, "360p", 4, false), head);
  add(f.fast, 1.001);
  add(f.fast, 2.002);
  for (double d : {1.001, 1.001, 2.002, 4.004}) add(rung, d);
  // Not joined before the encode is over (its last segment may still come).
  EXPECT_EQ(f.playlist(rung, "360p", 4, false).find("360p"), std::string::npos);
  std::string joined = f.playlist(rung, "360p", 4, true);
  EXPECT_TRUE(
      joined.ends_with("#EXTINF:2.002000,\nseg_00002.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:4.004000,\n../360p/"
                       "seg_00003.ts\n"))
      << joined;
  EXPECT_NE(joined.find("#EXT-X-TARGETDURATION:4\n"), std::string::npos) << joined;
  rung.ended = true;
  EXPECT_TRUE(f.playlist(rung, "360p", 4, true).ends_with("seg_00003.ts\n#EXT-X-ENDLIST\n"));
}

TEST(FfmpegErrorLine, LastMeaningfulLineWithoutPaths) {
  std::string err =
      "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d5c8a3c2c0] moov atom not found\n"
      "file:/var/lib/rend/work/ast_1/src.mp4: Invalid data found when processing input\n"
      "Conversion failed!\n\n";
  EXPECT_EQ(ffmpeg_error_line(err, 1), "<file>: Invalid data found when processing input");
  EXPECT_EQ(ffmpeg_error_line("", 187), "ffmpeg exited with code 187");
  EXPECT_EQ(ffmpeg_error_line("[libx264 @ 0xdeadbeef] broken thing\n  Last message repeated 2 times\n", 1),
            "[libx264] broken thing");
}

// ---------------------------------------------------------------- real ffmpeg runs

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PipelineRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-media-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(root_ / "in");
    objects_ = store::open_fs_object_store((root_ / "objects").string());
    cfg_.work_root = (root_ / "work").string();
    cfg_.process_timeout = 120s;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void ffmpeg(std::vector<std::string> args) {
    args.insert(args.begin(), {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"});
    core::ProcessOptions o;
    o.timeout = 60s;
    auto r = runner_.run(args, o);
    ASSERT_EQ(r.exit_code, 0) << r.err_tail;
  }

  SourceInfo probe_ok(const std::string& file) {
    auto r = probe(runner_, "ffprobe", file, 3600, 30s);
    if (auto* f = std::get_if<MediaFailure>(&r)) ADD_FAILURE() << f->code << ": " << f->message;
    return std::holds_alternative<SourceInfo>(r) ? std::get<SourceInfo>(r) : SourceInfo{};
  }

  // Checks everything a player needs, then ffprobes the master playlist from disk.
  void check_published(const std::string& asset, const PipelineResult& res, int top_w, int top_h) {
    fs::path dir = root_ / "objects" / "assets" / asset;
    std::string master = read_all(dir / "master.m3u8");
    ASSERT_FALSE(master.empty());
    EXPECT_TRUE(master.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")) << master;
    EXPECT_EQ(master.find("src/index.m3u8"), std::string::npos) << "final master still points at the remux";
    for (const auto& t : res.tiers) {
      std::string inf = "BANDWIDTH=" + std::to_string(t.bandwidth);
      EXPECT_NE(master.find(inf), std::string::npos) << master;
      EXPECT_NE(master.find("RESOLUTION=" + std::to_string(t.width) + "x" + std::to_string(t.height)),
                std::string::npos);
      EXPECT_NE(master.find("\n" + t.name + "/index.m3u8\n"), std::string::npos) << master;
      std::string pl = read_all(dir / t.name / "index.m3u8");
      auto info = hls::parse_media_playlist(pl);
      EXPECT_TRUE(info.ended) << pl;
      EXPECT_TRUE(pl.ends_with("#EXT-X-ENDLIST\n")) << pl;
      ASSERT_FALSE(info.segment_uris.empty());
      for (const auto& uri : info.segment_uris) {
        EXPECT_TRUE(objects_->head("assets/" + asset + "/" + t.name + "/" + uri).has_value()) << uri;
        EXPECT_TRUE(uri.starts_with("seg_") && uri.ends_with(".ts")) << uri;
      }
    }
    EXPECT_NE(master.find("CODECS=\"avc1.64"), std::string::npos);
    EXPECT_TRUE(objects_->head("assets/" + asset + "/poster.jpg").has_value());
    // The storyboard: a VTT whose every cue points at a sheet that is published.
    std::string vtt = read_all(dir / "storyboard.vtt");
    EXPECT_TRUE(vtt.starts_with("WEBVTT\n")) << vtt;
    EXPECT_NE(vtt.find("storyboard/sheet_0001.jpg#xywh=0,0,160,"), std::string::npos) << vtt;
    EXPECT_TRUE(objects_->head("assets/" + asset + "/storyboard/sheet_0001.jpg").has_value());
    EXPECT_TRUE(work_root_empty()) << "work dir left behind";

    core::ProcessOptions o;
    o.timeout = 30s;
    auto r = runner_.run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,codec_name", "-of", "json", (dir / "master.m3u8").string()},
                         o);
    ASSERT_EQ(r.exit_code, 0) << r.err_tail;
    auto j = boost::json::parse(r.out).as_object();
    auto& s = j.at("streams").as_array().at(0).as_object();
    EXPECT_EQ(s.at("codec_name").as_string(), "h264");
    EXPECT_EQ(s.at("width").as_int64(), top_w);
    EXPECT_EQ(s.at("height").as_int64(), top_h);
  }

  bool work_root_empty() const {
    std::error_code ec;
    return !fs::exists(cfg_.work_root, ec) || fs::is_empty(cfg_.work_root, ec);
  }

  // The job's private dirs under work_root while it runs, with their permissions.
  std::vector<std::pair<std::string, fs::perms>> work_dirs() const {
    std::vector<std::pair<std::string, fs::perms>> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cfg_.work_root, ec))
      out.emplace_back(e.path().filename().string(), fs::status(e.path()).permissions());
    return out;
  }

  core::PosixProcessRunner runner_;
  fs::path root_;
  std::unique_ptr<store::ObjectStore> objects_;
  PipelineConfig cfg_;
};

TEST_F(PipelineRun, H264WithAudioTakesTheFastPath) {
  std::string src = (root_ / "in" / "a.mp4").string();
  ffmpeg({"-f",       "lavfi",     "-i",        "testsrc2=size=640x360:rate=30",
          "-f",       "lavfi",     "-i",        "sine=frequency=440:sample_rate=48000",
          "-t",       "6",         "-c:v",      "libx264",
          "-preset",  "ultrafast", "-g",        "60",
          "-pix_fmt", "yuv420p",   "-c:a",      "aac",
          "-b:a",     "64k",       "-shortest", src});
  SourceInfo info = probe_ok(src);
  ASSERT_TRUE(fast_path_eligible(info));

  Pipeline p(cfg_, runner_, *objects_);
  bool playable = false;
  std::string master_at_playable;
  std::vector<store::Tier> playable_tiers;
  std::string playable_billing;
  std::vector<std::pair<std::string, fs::perms>> dirs_while_running;
  PipelineHooks hooks;
  auto t0 = std::chrono::steady_clock::now();
  double playable_s = -1;
  hooks.on_playable = [&](const std::vector<store::Tier>& tiers, const std::string& billing) {
    EXPECT_FALSE(playable) << "on_playable called twice";
    playable = true;
    playable_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    playable_tiers = tiers;
    playable_billing = billing;
    master_at_playable = read_all(root_ / "objects" / "assets" / "ast_fast" / "master.m3u8");
    dirs_while_running = work_dirs();
  };
  auto res = p.run("ast_fast", src, info, hooks);
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  ASSERT_TRUE(playable);
  std::cerr << "fast path: playable after " << playable_s << " s, hls_ready after " << total_s << " s\n";
  EXPECT_FALSE(master_at_playable.empty());
  EXPECT_EQ(res.billing_tier, "720p");
  EXPECT_EQ(playable_billing, "720p");
  ASSERT_EQ(res.tiers.size(), 1u);
  EXPECT_EQ(res.tiers[0].name, "360p");
  EXPECT_EQ(playable_tiers.size(), 1u);
  EXPECT_EQ(res.tiers[0].width, 640);
  EXPECT_EQ(res.tiers[0].height, 360);
  EXPECT_GT(res.tiers[0].bandwidth, 0);
  EXPECT_NE(
      read_all(root_ / "objects" / "assets" / "ast_fast" / "master.m3u8").find("CODECS=\"avc1.64001e,mp4a.40.2\""),
      std::string::npos);
  // The remuxed rendition stays for players that loaded the early master.
  auto src_pl = hls::parse_media_playlist(read_all(root_ / "objects" / "assets" / "ast_fast" / "src" / "index.m3u8"));
  EXPECT_TRUE(src_pl.ended);
  EXPECT_FALSE(src_pl.segment_uris.empty());
  check_published("ast_fast", res, 640, 360);
  // The job worked in one private directory (mkdtemp: unpredictable name, 0700).
  ASSERT_EQ(dirs_while_running.size(), 1u);
  EXPECT_TRUE(dirs_while_running[0].first.starts_with("ast_fast.")) << dirs_while_running[0].first;
  EXPECT_NE(dirs_while_running[0].first, "ast_fast.XXXXXX");
  EXPECT_EQ(dirs_while_running[0].second, fs::perms::owner_all);
}

TEST(PrivateWorkDirTest, PrivateUniqueAndRemovedOnUnwind) {
  fs::path parent = fs::temp_directory_path() / ("rend-pwd-test-" + std::to_string(::getpid()));
  fs::path a_path, b_path;
  try {
    PrivateWorkDir a(parent.string(), "ast_x");
    PrivateWorkDir b(parent.string(), "ast_x");
    a_path = a.path();
    b_path = b.path();
    EXPECT_NE(a_path, b_path) << "two jobs of one asset share a dir";
    EXPECT_EQ(fs::status(a_path).permissions(), fs::perms::owner_all);
    std::ofstream(a_path / "f") << "x";
    fs::create_directories(a_path / "sub" / "deeper");
    throw std::runtime_error("job failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(a_path));
  EXPECT_FALSE(fs::exists(b_path));
  EXPECT_TRUE(fs::is_empty(parent));
  fs::remove_all(parent);
}

// ---------------------------------------------------------------- hostile input

TEST_F(PipelineRun, ProbeRefusesPlaylistsImagesAndAudioBeforeReadingThem) {
  // A playable local clip that a playlist points at: following it would "work".
  std::string clip = (root_ / "in" / "bait.ts").string();
  ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
          "-pix_fmt", "yuv420p", "-f", "mpegts", clip});
  std::string hls = (root_ / "in" / "up1").string();
  std::ofstream(hls) << "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n" << clip << "\n#EXT-X-ENDLIST\n";
  std::string concat = (root_ / "in" / "up2").string();
  std::ofstream(concat) << "ffconcat version 1.0\nfile '" << clip << "'\n";
  std::string png = (root_ / "in" / "up3").string();
  ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", "-f", "image2", "-c:v", "png", png});
  std::string mp3 = (root_ / "in" / "up4").string();
  ffmpeg({"-f", "lavfi", "-i", "sine=d=1", "-c:a", "libmp3lame", "-f", "mp3", mp3});
  for (const auto& f : {hls, concat, png, mp3}) {
    auto r = probe(runner_, "ffprobe", f, 3600, 30s);
    ASSERT_TRUE(std::holds_alternative<MediaFailure>(r)) << f << " was accepted as " << std::get<SourceInfo>(r).demuxer;
    EXPECT_EQ(std::get<MediaFailure>(r).code, "not_a_video") << f << ": " << std::get<MediaFailure>(r).message;
    EXPECT_EQ(std::get<MediaFailure>(r).message.find(root_.string()), std::string::npos);
  }
  // The clip itself is fine, and the demuxer it was found with is kept for ffmpeg.
  EXPECT_EQ(probe_ok(clip).demuxer, "mpegts");
}

TEST_F(PipelineRun, AFailingStoreHookIsRetryableNotTheInputsFault) {
  std::string src = (root_ / "in" / "h.mp4").string();
  ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
          "-pix_fmt", "yuv420p", src});
  SourceInfo info = probe_ok(src);
  Pipeline p(cfg_, runner_, *objects_);
  PipelineHooks hooks;
  // The worker's on_playable writes to the metadata store; here that store is down.
  hooks.on_playable = [](auto&&...) { throw std::runtime_error("database unavailable"); };
  auto res = p.run("ast_dbdown", src, info, hooks);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.status.code, "storage_failed");
  EXPECT_TRUE(res.status.retryable);
  EXPECT_EQ(res.status.message.find("database"), std::string::npos) << "detail belongs in logs";
  EXPECT_TRUE(work_root_empty());

  // An input fault is not retryable.
  std::string bad = (root_ / "in" / "bad.mp4").string();
  std::ofstream(bad) << std::string(4096, 'x');
  res = p.run("ast_badinput", bad, info, {});
  EXPECT_EQ(res.status.code, "transcode_failed");
  EXPECT_FALSE(res.status.retryable);
}

// A stage that records its calls and fails in the phase it is told to.
struct RecordingStage final : Stage {
  RecordingStage(std::string n, std::vector<std::string>& log, std::string fail_in = "")
      : n_(std::move(n)), log_(log), fail_in_(std::move(fail_in)) {}
  const char* name() const override { return n_.c_str(); }
  core::Status initialize() override { return step("initialize"); }
  core::Status process() override { return step("process"); }
  core::Status flush() override { return step("flush"); }
  core::Status step(const std::string& phase) {
    log_.push_back(n_ + "." + phase);
    return phase == fail_in_ ? core::Status::transient("boom", n_) : core::Status{};
  }
  std::string n_;
  std::vector<std::string>& log_;
  std::string fail_in_;
};

TEST(RunStages, EveryInitializeThenEveryProcessThenEveryFlush) {
  std::vector<std::string> log;
  RecordingStage a("a", log), b("b", log);
  Stage* const chain[] = {&a, &b};
  EXPECT_TRUE(run_stages(chain).ok());
  EXPECT_EQ(log,
            (std::vector<std::string>{"a.initialize", "b.initialize", "a.process", "b.process", "a.flush", "b.flush"}));
}

TEST(RunStages, StopsAtTheFirstFailureAndReturnsIt) {
  std::vector<std::string> log;
  RecordingStage a("a", log), b("b", log, "process"), c("c", log);
  Stage* const chain[] = {&a, &b, &c};
  auto st = run_stages(chain);
  EXPECT_EQ(st.code, "boom");
  EXPECT_EQ(st.message, "b");
  EXPECT_TRUE(st.retryable);
  EXPECT_EQ(log, (std::vector<std::string>{"a.initialize", "b.initialize", "c.initialize", "a.process", "b.process"}));
}

TEST(ErrorTaxonomy, InfrastructureIsRetryableTheInputsFaultIsNot) {
  EXPECT_TRUE(errors::storage_failed().retryable);
  EXPECT_TRUE(errors::worker_failed("x").retryable);
  for (const auto& st : {errors::transcode_failed("x"), errors::not_a_video("x"), errors::corrupt_input("x"),
                         errors::cancelled(), errors::invalid_asset(), errors::from_probe({"too_long", "x"}),
                         errors::from_probe({"unsupported_input", "x"})}) {
    EXPECT_FALSE(st.ok());
    EXPECT_FALSE(st.retryable) << st.code;
    EXPECT_FALSE(st.message.empty()) << st.code;
  }
  EXPECT_EQ(errors::storage_failed().code, "storage_failed");
  EXPECT_EQ(errors::from_probe({"too_long", "long"}).code, "too_long");
  EXPECT_TRUE(core::Status{}.ok());
}

TEST_F(PipelineRun, PipelineRefusesADemuxerOutsideTheAllowList) {
  std::string src = (root_ / "in" / "x.m3u8").string();
  std::ofstream(src) << "#EXTM3U\n";
  SourceInfo info;
  info.demuxer = "hls";
  info.video_codec = "h264";
  info.width = 640;
  info.height = 360;
  info.duration_s = 5;
  info.fps = 30;
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_hls", src, info, {});
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.status.code, "not_a_video");
  EXPECT_FALSE(fs::exists(root_ / "objects" / "assets" / "ast_hls"));
}

// The cascaded graph (the lower rungs scaled from the second's frames, one 8-bit
// conversion before the split) with the storyboard and poster branches, on a real
// 10-bit source: every rung has its size, 8-bit 4:2:0, the same keyframes at the same
// times and the same segment durations; the poster is one whole 720p JPEG.
TEST_F(PipelineRun, TheCascadedLadderKeepsSizesKeyframesAndSegmentsAligned) {
  std::string src = (root_ / "in" / "c.mp4").string();
  ffmpeg({"-f",      "lavfi",     "-i",        "testsrc2=size=1280x720:rate=25",
          "-f",      "lavfi",     "-i",        "sine=frequency=440:sample_rate=48000",
          "-t",      "6",         "-c:v",      "libx264",
          "-preset", "ultrafast", "-pix_fmt",  "yuv420p10le",
          "-c:a",    "aac",       "-shortest", src});
  SourceInfo info = probe_ok(src);
  auto ladder = choose_ladder(info.width, info.height, info.has_audio);
  ASSERT_EQ(ladder.size(), 3u);
  StoryboardPlan plan = storyboard_plan(info);
  fs::path out = root_ / "ladder", sb = root_ / "storyboard", poster = root_ / "poster.jpg";
  fs::create_directories(sb);
  core::ProcessOptions o;
  o.timeout = 120s;
  auto r =
      runner_.run(ladder_command("ffmpeg", src, info, ladder, out.string(), 4, &plan, sb.string(), poster.string()), o);
  ASSERT_EQ(r.exit_code, 0) << r.err_tail;

  // ffprobe's csv of an HLS playlist: values split by commas and newlines (it repeats
  // the stream under its program and leaves empty fields).
  auto tokens = [](const std::string& csv) {
    std::vector<std::string> v;
    std::string cur;
    for (char c : csv + "\n") {
      if (c == ',' || c == '\n') {
        if (!cur.empty()) v.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    return v;
  };
  auto keys = keyframe_times(4, 6);  // 0 1 2 4
  std::vector<std::string> first_keyframes;
  for (const auto& rung : ladder) {
    fs::path pl = out / rung.name / "index.m3u8";
    auto info_pl = hls::parse_media_playlist(read_all(pl));
    EXPECT_TRUE(info_pl.ended);
    ASSERT_EQ(info_pl.durations.size(), keys.size()) << rung.name;
    for (size_t i = 0; i < keys.size(); ++i)
      EXPECT_NEAR(info_pl.durations[i], (i + 1 < keys.size() ? keys[i + 1] : 6.0) - keys[i], 0.05)
          << rung.name << " " << i;
    auto s = runner_.run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,pix_fmt", "-of", "csv=p=0", pl.string()},
                         o);
    ASSERT_EQ(s.exit_code, 0) << s.err_tail;
    auto st = tokens(s.out);
    ASSERT_GE(st.size(), 3u) << s.out;
    EXPECT_EQ(st[0] + "x" + st[1] + " " + st[2],
              std::to_string(rung.width) + "x" + std::to_string(rung.height) + " yuv420p");
    auto k = runner_.run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", pl.string()},
                         o);
    ASSERT_EQ(k.exit_code, 0) << k.err_tail;
    auto kt = tokens(k.out);
    ASSERT_EQ(kt.size(), keys.size()) << rung.name << ": " << k.out;
    for (size_t i = 0; i < keys.size(); ++i)
      EXPECT_NEAR(std::stod(kt[i]) - std::stod(kt[0]), keys[i], 0.001) << rung.name << " keyframe " << i;
    if (first_keyframes.empty()) first_keyframes = kt;
    EXPECT_EQ(kt, first_keyframes) << rung.name << ": keyframes differ from " << ladder[0].name;
  }
  EXPECT_TRUE(fs::exists(sb / "sheet_0001.jpg"));
  auto p = runner_.run({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
                        poster.string()},
                       o);
  ASSERT_EQ(p.exit_code, 0) << p.err_tail;
  EXPECT_EQ(p.out, "mjpeg,1280,720\n");
  EXPECT_FALSE(fs::exists(root_ / "poster.jpg.tmp"));
}

TEST_F(PipelineRun, RotatedHevcIsTranscodedUpright) {
  std::string enc = (root_ / "in" / "enc.mp4").string();
  std::string src = (root_ / "in" / "b.mp4").string();
  // 6 s: the first rendition's own encode covers 0-4 s, the ladder's 4-6 s.
  ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=480x270:rate=25", "-t", "6", "-c:v", "libx265", "-preset", "ultrafast",
          "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1", enc});
  // The rotation is written on a remux (ffmpeg 5.1 drops it when encoding).
  ffmpeg({"-i", enc, "-c", "copy", "-metadata:s:v:0", "rotate=90", src});
  SourceInfo info = probe_ok(src);
  EXPECT_EQ(info.video_codec, "hevc");
  EXPECT_TRUE(info.rotation == 90 || info.rotation == 270) << info.rotation;
  EXPECT_EQ(info.width, 270);
  EXPECT_EQ(info.height, 480);
  ASSERT_FALSE(fast_path_eligible(info));

  Pipeline p(cfg_, runner_, *objects_);
  int playable = 0;
  PipelineHooks hooks;
  hooks.on_playable = [&](const std::vector<store::Tier>& tiers, const std::string& billing) {
    ++playable;
    ASSERT_EQ(tiers.size(), 1u);
    EXPECT_EQ(tiers[0].name, "270p");
    EXPECT_EQ(billing, "720p");
  };
  // Playable from the first rendition: a one-variant master on first/, whose first
  // segment is short, and which a player can already decode.
  std::string master_at_playable, playlist_at_playable, probe_at_playable;
  hooks.on_playable = [&, inner = hooks.on_playable](const std::vector<store::Tier>& tiers, const std::string& b) {
    inner(tiers, b);
    fs::path dir = root_ / "objects" / "assets" / "ast_hevc";
    master_at_playable = read_all(dir / "master.m3u8");
    playlist_at_playable = read_all(dir / "first" / "index.m3u8");
    core::ProcessOptions o;
    o.timeout = 30s;
    // The first 20 video frames (of the first segment's 25): an EVENT playlist has no
    // end yet, and this hook holds up the publisher that would make it grow.
    auto r = runner_.run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-read_intervals",
                          "%+#20", "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0",
                          (dir / "master.m3u8").string()},
                         o);
    probe_at_playable = r.exit_code == 0 ? r.out : "ffprobe failed: " + r.err_tail;
  };
  auto t0 = std::chrono::steady_clock::now();
  auto res = p.run("ast_hevc", src, info, hooks);
  std::cerr << "hevc: hls_ready after " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s\n";
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(playable, 1);
  ASSERT_EQ(res.tiers.size(), 1u);
  EXPECT_EQ(res.tiers[0].width, 270);
  EXPECT_EQ(res.tiers[0].height, 480);
  check_published("ast_hevc", res, 270, 480);

  EXPECT_NE(master_at_playable.find("\nfirst/index.m3u8\n"), std::string::npos) << master_at_playable;
  auto first = hls::parse_media_playlist(playlist_at_playable);
  ASSERT_FALSE(first.durations.empty()) << playlist_at_playable;
  EXPECT_NEAR(first.durations[0], 1.0, 0.05) << playlist_at_playable;
  EXPECT_NE(playlist_at_playable.find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos) << playlist_at_playable;
  // Upright 270x480 frames decoded from the first segment.
  EXPECT_TRUE(probe_at_playable.starts_with("270,480,20\n")) << probe_at_playable;

  // The ladder's rung: 1 s, 1 s, 2 s, then the 4 s grid (the clip ends at 6 s).
  fs::path dir = root_ / "objects" / "assets" / "ast_hevc";
  auto rung = hls::parse_media_playlist(read_all(dir / "270p" / "index.m3u8"));
  auto keys = keyframe_times(4, 6);
  ASSERT_EQ(rung.durations.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    EXPECT_NEAR(rung.durations[i], (i + 1 < keys.size() ? keys[i + 1] : 6.0) - keys[i], 0.05) << i;
  // The first rendition to its end: its own 0-4 s, then the rung's 4-6 s segment.
  std::string first_pl = read_all(dir / "first" / "index.m3u8");
  auto whole = hls::parse_media_playlist(first_pl);
  EXPECT_TRUE(whole.ended) << first_pl;
  ASSERT_EQ(whole.segment_uris.size(), 4u) << first_pl;
  EXPECT_EQ(whole.segment_uris[3], "../270p/seg_00003.ts") << first_pl;
  EXPECT_NE(first_pl.find("#EXT-X-DISCONTINUITY\n#EXTINF:2.000000,\n../270p/seg_00003.ts\n"), std::string::npos)
      << first_pl;
  // A player that loaded the early master plays it from start to end: every frame of
  // the 6 s decodes, upright, across the switch of encoders.
  core::ProcessOptions o;
  o.timeout = 30s;
  auto r =
      runner_.run({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                   "stream=width,height,nb_read_frames", "-of", "csv=p=0", (dir / "first" / "index.m3u8").string()},
                  o);
  ASSERT_EQ(r.exit_code, 0) << r.err_tail;
  EXPECT_TRUE(r.out.starts_with("270,480,150\n")) << r.out;
}

TEST_F(PipelineRun, ProbeRejectsTextAndEmptyFiles) {
  std::string txt = (root_ / "in" / "notes.txt").string();
  std::ofstream(txt) << "hello, this is not a video\n";
  auto r = probe(runner_, "ffprobe", txt, 3600, 30s);
  ASSERT_TRUE(std::holds_alternative<MediaFailure>(r));
  EXPECT_EQ(std::get<MediaFailure>(r).code, "not_a_video");
  std::string empty = (root_ / "in" / "empty").string();
  std::ofstream{empty};
  r = probe(runner_, "ffprobe", empty, 3600, 30s);
  ASSERT_TRUE(std::holds_alternative<MediaFailure>(r));
  EXPECT_EQ(std::get<MediaFailure>(r).code, "corrupt_input");
  EXPECT_EQ(std::get<MediaFailure>(r).message.find(root_.string()), std::string::npos);
}

TEST_F(PipelineRun, CorruptSourceFailsWithoutPaths) {
  std::string src = (root_ / "in" / "broken.mp4").string();
  {
    std::ofstream out(src, std::ios::binary);
    for (int i = 0; i < 50000; ++i) out.put(char((i * 7919) & 0xff));
  }
  SourceInfo info;
  info.demuxer = "mov";
  info.video_codec = "h264";
  info.width = 640;
  info.height = 360;
  info.duration_s = 5;
  info.fps = 30;
  Pipeline p(cfg_, runner_, *objects_);
  bool playable = false;
  PipelineHooks hooks;
  hooks.on_playable = [&](auto&&...) { playable = true; };
  auto res = p.run("ast_bad", src, info, hooks);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.status.code, "transcode_failed");
  EXPECT_FALSE(res.status.message.empty());
  EXPECT_EQ(res.status.message.find(root_.string()), std::string::npos) << res.status.message;
  EXPECT_FALSE(playable);
  EXPECT_TRUE(work_root_empty());
}

TEST_F(PipelineRun, CancelStopsTheJob) {
  std::string src = (root_ / "in" / "c.mp4").string();
  ffmpeg({"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
          "-pix_fmt", "yuv444p", src});  // not fast-path eligible
  SourceInfo info = probe_ok(src);
  Pipeline p(cfg_, runner_, *objects_);
  PipelineHooks hooks;
  auto t0 = std::chrono::steady_clock::now();
  hooks.should_cancel = [&] { return std::chrono::steady_clock::now() - t0 > 300ms; };
  auto res = p.run("ast_cancel", src, info, hooks);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.status.code, "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(work_root_empty());
}

// ---------------------------------------------------------------- stages, scripted (no ffmpeg)

class PipelineScripted : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-media-scripted-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(root_);
    objects_ =
        std::make_unique<store::testing::FailingObjects>(store::open_fs_object_store((root_ / "objects").string()));
    cfg_.work_root = (root_ / "work").string();
    cfg_.process_timeout = 20s;
    testing::script_good_job(runner_, 640, 360, 8.0);  // fast path, one 360p rung, 2 segments
    auto probed = parse_probe_json(testing::ffprobe_json(640, 360, 8.0), 3600);
    info_ = std::get<SourceInfo>(probed);
    source_ = (root_ / "source").string();
    std::ofstream(source_) << "not decoded";
  }
  void TearDown() override {
    EXPECT_TRUE(runner_.unmatched().empty());
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string object(const std::string& key) { return read_all(root_ / "objects" / key); }

  fs::path root_;
  std::unique_ptr<store::testing::FailingObjects> objects_;
  PipelineConfig cfg_;
  core::testing::ScriptedRunner runner_;
  SourceInfo info_;
  std::string source_;
};

// The helper-thread semantics the stages keep: the remux makes the asset playable
// before the ladder encode starts; the poster comes out of the ladder's decode and is
// published while it encodes (no run of its own).
TEST_F(PipelineScripted, FastPathIsPlayableBeforeTheLadderAndThePosterComesFromItsDecode) {
  std::atomic<bool> playable{false};
  bool playable_before_ladder = false, poster_during_ladder = false;
  std::string master_at_playable;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               playable_before_ladder = playable.load();
               core::testing::write_files(argv, {{"../poster.jpg", std::string(2048, 'P')}});
               o.on_tick();
               poster_during_ladder = objects_->head("assets/ast_s/poster.jpg").has_value();
               core::testing::write_files(argv, testing::hls_files("360p", 2));
               return core::testing::Reply::exit_result(0);
             }});
  PipelineHooks hooks;
  hooks.on_playable = [&](const std::vector<store::Tier>& tiers, const std::string& billing) {
    EXPECT_FALSE(playable.exchange(true)) << "on_playable called twice";
    EXPECT_EQ(tiers.size(), 1u);
    EXPECT_EQ(billing, "720p");
    master_at_playable = object("assets/ast_s/master.m3u8");
  };
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_s", source_, info_, hooks);
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_TRUE(playable_before_ladder);
  EXPECT_TRUE(poster_during_ladder);
  EXPECT_EQ(object("assets/ast_s/poster.jpg"), std::string(2048, 'P'));
  EXPECT_NE(master_at_playable.find("src/index.m3u8"), std::string::npos) << master_at_playable;
  std::string master = object("assets/ast_s/master.m3u8");
  EXPECT_NE(master.find("\n360p/index.m3u8\n"), std::string::npos) << master;
  EXPECT_EQ(master.find("src/index.m3u8"), std::string::npos) << master;
  EXPECT_TRUE(hls::parse_media_playlist(object("assets/ast_s/360p/index.m3u8")).ended);
  EXPECT_TRUE(objects_->head("assets/ast_s/src/seg_00001.ts").has_value());
  ASSERT_EQ(res.tiers.size(), 1u);
  EXPECT_EQ(res.tiers[0].name, "360p");
  EXPECT_EQ(runner_.count(testing::poster_run()), 0) << "the poster decoded the source once more";
  auto ladder_argv = runner_.last_call(testing::ladder_run());
  EXPECT_NE(std::find(ladder_argv.begin(), ladder_argv.end(), "-atomic_writing"), ladder_argv.end());
}

// A ladder whose decode made no poster (too short for its frame, or the branch
// failed): the poster's own run makes it after the ladder, as before.
TEST_F(PipelineScripted, WithoutAPosterFromTheLadderItsOwnRunMakesIt) {
  runner_.on(testing::ladder_run(), {.files = testing::hls_files("360p", 2)}, 1);  // no poster, no sheet
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_p", source_, info_, {});
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(runner_.count(testing::poster_run()), 1);
  EXPECT_EQ(object("assets/ast_p/poster.jpg"), std::string(2048, 'J'));
}

// Without the fast path (HEVC here), the first rendition makes the asset playable
// while the ladder has no segment yet: its own fast encode's 1 s segment under
// first/, with a one-variant master. Its playlist then continues with the ladder's
// lowest rung from 4 s on (after a discontinuity) and ends with it; the final master
// is the ladder's. A player that loaded the early master plays to the end.
TEST_F(PipelineScripted, TheFirstRenditionMakesANonFastPathSourcePlayableBeforeTheLadder) {
  info_.video_codec = "hevc";
  info_.profile = "Main";
  info_.width = 1280;
  info_.height = 720;
  ASSERT_FALSE(fast_path_eligible(info_));
  std::atomic<int> playable{0};
  std::string master_at_playable, first_at_playable;
  bool ladder_segment_up_at_playable = true;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               // The ladder has cut nothing yet; ticks publish what the first encode made.
               auto deadline = std::chrono::steady_clock::now() + 5s;
               while (playable.load() == 0 && std::chrono::steady_clock::now() < deadline) {
                 o.on_tick();
                 std::this_thread::sleep_for(5ms);
               }
               // The 360p rung cuts at the same keyframes: 1 1 2 4 (8 s).
               std::string pl = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n";
               const double durs[] = {1, 1, 2, 4};
               for (int i = 0; i < 4; ++i) {
                 std::string name = "seg_0000" + std::to_string(i) + ".ts";
                 core::testing::write_files(argv, {{"360p/" + name, std::string(9400, char('A' + i))}});
                 pl += "#EXTINF:" + std::to_string(durs[i]) + ",\n" + name + "\n";
               }
               core::testing::write_files(argv, {{"360p/index.m3u8", pl + "#EXT-X-ENDLIST\n"}});
               for (const char* rung : {"720p", "540p"}) core::testing::write_files(argv, testing::hls_files(rung, 2));
               o.on_tick();
               return core::testing::Reply::exit_result(0);
             }});
  PipelineHooks hooks;
  hooks.on_playable = [&](const std::vector<store::Tier>& tiers, const std::string& billing) {
    ++playable;
    EXPECT_EQ(tiers.size(), 3u);
    EXPECT_EQ(billing, "720p");
    master_at_playable = object("assets/ast_f/master.m3u8");
    first_at_playable = object("assets/ast_f/first/index.m3u8");
    ladder_segment_up_at_playable = objects_->head("assets/ast_f/360p/seg_00000.ts").has_value();
  };
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_f", source_, info_, hooks);
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(runner_.count(testing::remux_run()), 0);
  EXPECT_EQ(playable.load(), 1);
  EXPECT_FALSE(ladder_segment_up_at_playable);
  auto variants = [](const std::string& m) {
    size_t n = 0;
    for (size_t at = m.find("#EXT-X-STREAM-INF:"); at != std::string::npos; at = m.find("#EXT-X-STREAM-INF:", at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(variants(master_at_playable), 1u) << master_at_playable;
  EXPECT_TRUE(master_at_playable.ends_with("\nfirst/index.m3u8\n")) << master_at_playable;
  EXPECT_NE(master_at_playable.find("RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\""), std::string::npos)
      << master_at_playable;
  auto early = hls::parse_media_playlist(first_at_playable);
  ASSERT_FALSE(early.durations.empty()) << first_at_playable;
  EXPECT_DOUBLE_EQ(early.durations[0], 1.0);
  EXPECT_FALSE(early.ended);
  EXPECT_NE(first_at_playable.find("#EXT-X-PLAYLIST-TYPE:EVENT\n"), std::string::npos) << first_at_playable;
  // The whole first rendition: the fast 0-4 s, then the rung from 4 s, then the end.
  EXPECT_EQ(object("assets/ast_f/first/index.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXTINF:1.000000,\nseg_00000.ts\n#EXTINF:1.000000,\nseg_00001.ts\n#EXTINF:2.000000,\nseg_00002.ts\n"
            "#EXT-X-DISCONTINUITY\n#EXTINF:4.000000,\n../360p/seg_00003.ts\n#EXT-X-ENDLIST\n");
  for (const char* seg : {"seg_00000.ts", "seg_00001.ts", "seg_00002.ts"})
    EXPECT_TRUE(objects_->head(std::string("assets/ast_f/first/") + seg).has_value()) << seg;
  std::string master = object("assets/ast_f/master.m3u8");
  EXPECT_EQ(variants(master), 3u) << master;
  EXPECT_EQ(master.find("first/"), std::string::npos) << master;
  EXPECT_TRUE(hls::parse_media_playlist(object("assets/ast_f/360p/index.m3u8")).ended);
  // Poster and storyboard start only once the first encode is done (remux.done()).
  EXPECT_EQ(runner_.count(testing::first_run()), 1);
}

// Progress is the share of the segments expected: with the short first segments a
// 13 s clip has 6 a rung (1 1 2 4 4 1), so 3 published are half of it.
TEST_F(PipelineScripted, ProgressCountsTheShortFirstSegments) {
  info_.duration_s = 13;
  double progress_after_three = -1;
  std::vector<double> progress;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               std::string pl = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n";
               const double durs[] = {1, 1, 2, 4, 4, 1};
               for (int i = 0; i < 6; ++i) {
                 std::string name = "seg_0000" + std::to_string(i) + ".ts";
                 core::testing::write_files(argv, {{"360p/" + name, std::string(940, 'A')}});
                 pl += "#EXTINF:" + std::to_string(durs[i]) + ",\n" + name + "\n";
                 if (i == 2) {
                   core::testing::write_files(argv, {{"360p/index.m3u8", pl}});
                   o.on_tick();
                   progress_after_three = progress.empty() ? -1 : progress.back();
                 }
               }
               core::testing::write_files(argv, {{"360p/index.m3u8", pl + "#EXT-X-ENDLIST\n"}});
               o.on_tick();
               return core::testing::Reply::exit_result(0);
             }});
  PipelineHooks hooks;
  hooks.on_progress = [&](double p) { progress.push_back(p); };
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_p", source_, info_, hooks);
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_NEAR(progress_after_three, 0.5, 1e-9);
  ASSERT_FALSE(progress.empty());
  EXPECT_NEAR(progress.back(), 0.99, 1e-9);
}

// When the first rendition's own encode fails, the ladder's lowest rung is the first
// rendition: a one-variant master on 360p/ once its first (1 s) segment is up.
TEST_F(PipelineScripted, AFailedFirstEncodeLeavesTheLowestRungToMakeItPlayable) {
  info_.video_codec = "hevc";
  info_.profile = "Main";
  info_.width = 1280;
  info_.height = 720;
  runner_.on(testing::first_run(), core::testing::Reply::exits(1, "encoder broke"), 1);
  std::atomic<int> playable{0};
  std::string master_at_playable;
  bool others_published_at_playable = true;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               core::testing::write_files(
                   argv, {{"360p/seg_00000.ts", std::string(9400, 'A')},
                          {"360p/index.m3u8",
                           "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
                           "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:1.000000,\nseg_00000.ts\n"}});
               auto deadline = std::chrono::steady_clock::now() + 5s;
               while (playable.load() == 0 && std::chrono::steady_clock::now() < deadline) {
                 o.on_tick();
                 std::this_thread::sleep_for(5ms);
               }
               for (const char* rung : {"720p", "540p", "360p"})
                 core::testing::write_files(argv, testing::hls_files(rung, 2));
               o.on_tick();
               return core::testing::Reply::exit_result(0);
             }});
  PipelineHooks hooks;
  hooks.on_playable = [&](auto&&...) {
    ++playable;
    master_at_playable = object("assets/ast_g/master.m3u8");
    others_published_at_playable = objects_->head("assets/ast_g/720p/index.m3u8").has_value() ||
                                   objects_->head("assets/ast_g/540p/seg_00000.ts").has_value();
  };
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_g", source_, info_, hooks);
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(playable.load(), 1);
  EXPECT_FALSE(others_published_at_playable);
  EXPECT_EQ(master_at_playable.find("#EXT-X-STREAM-INF:", master_at_playable.find("#EXT-X-STREAM-INF:") + 1),
            std::string::npos)
      << master_at_playable;
  EXPECT_TRUE(master_at_playable.ends_with("\n360p/index.m3u8\n")) << master_at_playable;
  EXPECT_FALSE(objects_->head("assets/ast_g/first/index.m3u8").has_value());
  EXPECT_NE(object("assets/ast_g/master.m3u8").find("720p/index.m3u8"), std::string::npos);
}

// The fast path's remux failed: the ladder's lowest rung is the first rendition (a
// one-variant master on it once its first segment is up, while the ladder still
// encodes), and the job still ends hls_ready.
TEST_F(PipelineScripted, AFailedRemuxLeavesTheLadderToMakeItPlayable) {
  runner_.on(testing::remux_run(), core::testing::Reply::exits(1, "remux broke"), 1);
  std::atomic<int> playable{0};
  std::string master_at_playable;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               core::testing::write_files(
                   argv, {{"360p/seg_00000.ts", std::string(9400, 'A')},
                          {"360p/index.m3u8",
                           "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
                           "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:1.000000,\nseg_00000.ts\n"}});
               auto deadline = std::chrono::steady_clock::now() + 5s;
               while (playable.load() == 0 && std::chrono::steady_clock::now() < deadline) {
                 o.on_tick();
                 std::this_thread::sleep_for(5ms);
               }
               core::testing::write_files(argv, testing::hls_files("360p", 2));
               o.on_tick();
               return core::testing::Reply::exit_result(0);
             }});
  PipelineHooks hooks;
  hooks.on_playable = [&](auto&&...) {
    ++playable;
    master_at_playable = object("assets/ast_r/master.m3u8");
  };
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_r", source_, info_, hooks);
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(playable.load(), 1);
  // Nominal bandwidth only: the partial master, not the final one (AVERAGE-BANDWIDTH).
  EXPECT_TRUE(master_at_playable.ends_with("\n360p/index.m3u8\n")) << master_at_playable;
  EXPECT_EQ(master_at_playable.find("AVERAGE-BANDWIDTH"), std::string::npos) << master_at_playable;
  EXPECT_FALSE(objects_->head("assets/ast_r/src/index.m3u8").has_value());
  EXPECT_NE(object("assets/ast_r/master.m3u8").find("AVERAGE-BANDWIDTH"), std::string::npos);
}

// The storyboard comes out of the ladder's own ffmpeg (no second decode of the
// source next to the ladder): its sheets are published after the ladder, sheets before
// the VTT, and they are in place when run() returns (before hls_ready).
TEST_F(PipelineScripted, TheStoryboardComesFromTheLaddersDecode) {
  bool vtt_during_ladder = true;
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions&) {
               vtt_during_ladder = objects_->head("assets/ast_b/storyboard.vtt").has_value();
               core::testing::write_files(argv, testing::ladder_sheets());
               core::testing::write_files(argv, testing::hls_files("360p", 2));
               return core::testing::Reply::exit_result(0);
             }});
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_b", source_, info_, {});
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_FALSE(vtt_during_ladder);
  EXPECT_EQ(runner_.count(testing::storyboard_run()), 0) << "no separate storyboard decode";
  auto argv = runner_.last_call(testing::ladder_run());
  std::string joined;
  for (const auto& a : argv) joined += a + "\n";
  EXPECT_NE(joined.find("tile=4x1[sb]"), std::string::npos) << joined;
  EXPECT_EQ(object("assets/ast_b/storyboard/sheet_0001.jpg"), std::string(4096, 'S'));
  // 8 s: four 2 s tiles on one 4 x 1 sheet, covering [0, 8 s).
  std::string vtt = object("assets/ast_b/storyboard.vtt");
  EXPECT_TRUE(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard/sheet_0001.jpg#xywh=0,0,160,90\n"))
      << vtt;
  EXPECT_TRUE(vtt.ends_with("00:00:06.000 --> 00:00:08.000\nstoryboard/sheet_0001.jpg#xywh=480,0,160,90\n\n")) << vtt;
}

// A storyboard is optional: the ladder making no sheet, or the store refusing a sheet,
// leaves the asset without one but still hls_ready, and nothing half-published.
TEST_F(PipelineScripted, AFailedStoryboardDoesNotFailTheAsset) {
  runner_.on(testing::ladder_run(), {.files = testing::hls_files("360p", 2)}, 1);  // no sheet
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_x", source_, info_, {});
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_FALSE(objects_->head("assets/ast_x/storyboard.vtt").has_value());
  EXPECT_TRUE(objects_->head("assets/ast_x/poster.jpg").has_value());

  objects_->fail_puts("assets/ast_y/storyboard/");
  auto res2 = p.run("ast_y", source_, info_, {});
  ASSERT_TRUE(res2.ok()) << res2.status.code << ": " << res2.status.message;
  EXPECT_FALSE(objects_->head("assets/ast_y/storyboard.vtt").has_value()) << "a VTT pointing at a missing sheet";
  EXPECT_TRUE(fs::is_empty(cfg_.work_root)) << "work dir left behind";
}

// The poster is not the job's: its upload failing while the ladder runs is tried again
// (a later tick or the end), and the asset is published with it.
TEST_F(PipelineScripted, APosterUploadFailingOnceDoesNotFailTheJob) {
  objects_->fail_puts("assets/ast_p/poster.jpg", 1);
  runner_.on(testing::ladder_run(), {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
               core::testing::write_files(argv, {{"../poster.jpg", std::string(2048, 'P')}});
               o.on_tick();
               core::testing::write_files(argv, testing::hls_files("360p", 2));
               return core::testing::Reply::exit_result(0);
             }});
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_p", source_, info_, {});
  ASSERT_TRUE(res.ok()) << res.status.code << ": " << res.status.message;
  EXPECT_EQ(objects_->failed_puts(), 1);
  EXPECT_EQ(object("assets/ast_p/poster.jpg"), std::string(2048, 'P'));
}

TEST_F(PipelineScripted, APutFailingWhileTheLadderPublishesIsRetryableAndStopsTheEncode) {
  objects_->fail_puts("assets/ast_f/360p/");
  runner_.on(testing::ladder_run(), {.files = testing::hls_files("360p", 2), .until_cancelled = true}, 1);
  Pipeline p(cfg_, runner_, *objects_);
  auto t0 = std::chrono::steady_clock::now();
  auto res = p.run("ast_f", source_, info_, {});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "the encode was not stopped";
  EXPECT_EQ(res.status.code, "storage_failed");
  EXPECT_TRUE(res.status.retryable);
  EXPECT_EQ(res.status.message, "Publishing the renditions failed.");
  EXPECT_TRUE(res.tiers.empty());
  EXPECT_GT(objects_->failed_puts(), 0);
  EXPECT_TRUE(fs::is_empty(cfg_.work_root)) << "work dir left behind";
}

TEST_F(PipelineScripted, TheFinalMasterFailingIsRetryable) {
  objects_->fail_puts("assets/ast_m/master.m3u8", 1, 1);  // the fast master works, the final one fails
  Pipeline p(cfg_, runner_, *objects_);
  auto res = p.run("ast_m", source_, info_, {});
  EXPECT_EQ(res.status.code, "storage_failed");
  EXPECT_TRUE(res.status.retryable);
  EXPECT_EQ(objects_->failed_keys(), std::vector<std::string>{"assets/ast_m/master.m3u8"});
}

// Time to playable / hls_ready for a 30 s 1080p H.264 source against one plain ffmpeg
// command producing the same ladder. Slow (encodes twice): run explicitly with
//   rend_media_test --gtest_also_run_disabled_tests --gtest_filter='*Benchmark*'
TEST_F(PipelineRun, DISABLED_Benchmark1080p30s) {
  std::string src = (root_ / "in" / "hd.mp4").string();
  ffmpeg({"-f",      "lavfi",     "-i",         "testsrc2=size=1920x1080:rate=30",
          "-f",      "lavfi",     "-i",         "sine=frequency=440:sample_rate=48000",
          "-t",      "30",        "-c:v",       "libx264",
          "-preset", "ultrafast", "-profile:v", "high",
          "-g",      "60",        "-pix_fmt",   "yuv420p",
          "-c:a",    "aac",       "-shortest",  src});
  SourceInfo info = probe_ok(src);
  auto ladder = choose_ladder(info.width, info.height, info.has_audio);
  fs::create_directories(root_ / "plain");
  auto t0 = std::chrono::steady_clock::now();
  core::ProcessOptions o;
  o.timeout = 600s;
  auto r = runner_.run(ladder_command("ffmpeg", src, info, ladder, (root_ / "plain").string(), 4), o);
  ASSERT_EQ(r.exit_code, 0) << r.err_tail;
  double plain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  Pipeline p(cfg_, runner_, *objects_);
  PipelineHooks hooks;
  double playable_s = -1;
  t0 = std::chrono::steady_clock::now();
  hooks.on_playable = [&](auto&&...) {
    playable_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto res = p.run("ast_bench", src, info, hooks);
  double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(res.ok()) << res.status.message;
  std::cerr << "plain ffmpeg ladder: " << plain_s << " s; pipeline playable: " << playable_s
            << " s, hls_ready: " << ready_s << " s (" << ready_s / plain_s << "x)\n";
  EXPECT_LT(playable_s, 2.0);
  EXPECT_LT(ready_s, plain_s * 1.1);
}

}  // namespace
}  // namespace rend::media
