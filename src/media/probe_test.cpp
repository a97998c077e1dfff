#include "media/probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace rend::media {
namespace {

// Trimmed `ffprobe -v error -print_format json -show_format -show_streams` output.
const char* kH264Mp4 = R"({
  "streams": [
    {"index": 0, "codec_name": "h264", "profile": "High", "codec_type": "video", "width": 1920, "height": 1080,
     "sample_aspect_ratio": "1:1", "pix_fmt": "yuv420p", "level": 40, "r_frame_rate": "30000/1001",
     "avg_frame_rate": "30000/1001", "duration": "30.030000", "bit_rate": "8000000", "nb_frames": "900",
     "disposition": {"default": 1, "attached_pic": 0}, "tags": {"language": "und"}},
    {"index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio", "sample_rate": "48000",
     "channels": 2, "duration": "30.000000", "bit_rate": "128000", "disposition": {"default": 1, "attached_pic": 0}}
  ],
  "format": {"filename": "/srv/rend/sources/ast_1", "nb_streams": 2, "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
             "duration": "30.030000", "size": "30500000", "bit_rate": "8125000", "probe_score": 100}
})";

const char* kRotatedHevc = R"({
  "streams": [
    {"index": 0, "codec_name": "hevc", "profile": "Main 10", "codec_type": "video", "codec_tag_string": "hvc1",
     "width": 1920, "height": 1080, "pix_fmt": "yuv420p10le", "level": 153, "color_transfer": "arib-std-b67",
     "r_frame_rate": "30/1", "avg_frame_rate": "2999/100", "duration": "12.500000", "nb_frames": "375",
     "disposition": {"default": 1, "attached_pic": 0},
     "tags": {"rotate": "90", "handler_name": "Core Media Video"},
     "side_data_list": [
       {"side_data_type": "DOVI configuration record"},
       {"side_data_type": "Display Matrix",
        "displaymatrix": "\n00000000:            0       65536           0\n", "rotation": -90}
     ]},
    {"index": 1, "codec_name": "aac", "codec_type": "audio", "disposition": {"default": 1}}
  ],
  "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.500000", "size": "25000000",
             "bit_rate": "16000000"}
})";

const char* kMp3 = R"({
  "streams": [
    {"index": 0, "codec_name": "mp3", "codec_type": "audio", "sample_rate": "44100", "duration": "3.030204",
     "disposition": {"default": 0, "attached_pic": 0}},
    {"index": 1, "codec_name": "mjpeg", "codec_type": "video", "width": 500, "height": 500,
     "disposition": {"default": 0, "attached_pic": 1}}
  ],
  "format": {"format_name": "mp3", "duration": "3.030204", "size": "24468", "bit_rate": "64597"}
})";

const char* kPng = R"({
  "streams": [
    {"index": 0, "codec_name": "png", "codec_type": "video", "width": 64, "height": 64, "pix_fmt": "rgb24",
     "level": -99, "r_frame_rate": "25/1", "avg_frame_rate": "25/1", "disposition": {"default": 0}}
  ],
  "format": {"filename": "d.png", "format_name": "png_pipe", "size": "1687", "probe_score": 99}
})";

const char* kGif1 = R"({
  "streams": [
    {"index": 0, "codec_name": "gif", "codec_type": "video", "width": 64, "height": 64, "pix_fmt": "bgra",
     "r_frame_rate": "100/10", "avg_frame_rate": "0/0", "duration": "0.100000", "nb_frames": "1"}
  ],
  "format": {"format_name": "gif", "duration": "0.100000", "size": "2631"}
})";

const char* kJpeg = R"({
  "streams": [{"index": 0, "codec_name": "mjpeg", "codec_type": "video", "width": 4000, "height": 3000,
               "pix_fmt": "yuvj420p", "r_frame_rate": "25/1", "avg_frame_rate": "0/0"}],
  "format": {"format_name": "image2", "size": "3000000"}
})";

const char* kTextAsTty = R"({
  "streams": [{"index": 0, "codec_name": "ansi", "codec_type": "video", "width": 640, "height": 400,
               "r_frame_rate": "25/1"}],
  "format": {"format_name": "tty", "duration": "0.040000", "size": "3"}
})";

template <class T>
T as(const std::variant<SourceInfo, MediaFailure>& v) {
  EXPECT_TRUE(std::holds_alternative<T>(v))
      << (std::holds_alternative<MediaFailure>(v)
              ? std::get<MediaFailure>(v).code + ": " + std::get<MediaFailure>(v).message
              : std::string("got SourceInfo"));
  return std::holds_alternative<T>(v) ? std::get<T>(v) : T{};
}

TEST(ParseProbeJson, H264Mp4) {
  auto r = parse_probe_json(kH264Mp4, 3600);
  const auto i = as<SourceInfo>(r);
  EXPECT_DOUBLE_EQ(i.duration_s, 30.03);
  EXPECT_EQ(i.width, 1920);
  EXPECT_EQ(i.height, 1080);
  EXPECT_EQ(i.rotation, 0);
  EXPECT_EQ(i.video_codec, "h264");
  EXPECT_EQ(i.pix_fmt, "yuv420p");
  EXPECT_EQ(i.profile, "High");
  EXPECT_EQ(i.level, 40);
  EXPECT_NEAR(i.fps, 29.97, 0.01);
  EXPECT_TRUE(i.has_audio);
  EXPECT_EQ(i.audio_codec, "aac");
  EXPECT_EQ(i.bit_rate, 8125000);
}

TEST(ParseProbeJson, RotatedHevcPhoneClipSwapsDimensions) {
  const auto i = as<SourceInfo>(parse_probe_json(kRotatedHevc, 3600));
  EXPECT_EQ(i.rotation, 90);
  EXPECT_EQ(i.width, 1080);
  EXPECT_EQ(i.height, 1920);
  EXPECT_EQ(i.video_codec, "hevc");
  EXPECT_EQ(i.pix_fmt, "yuv420p10le");
  EXPECT_NEAR(i.fps, 29.99, 0.001);
  EXPECT_TRUE(i.has_audio);
}

TEST(ParseProbeJson, LegacyRotateTagOnly) {
  std::string j = R"({"streams":[{"codec_type":"video","codec_name":"h264","width":1280,"height":720,
    "avg_frame_rate":"30/1","tags":{"rotate":"270"}}],"format":{"format_name":"mov","duration":"5.0"}})";
  const auto i = as<SourceInfo>(parse_probe_json(j, 3600));
  EXPECT_EQ(i.rotation, 270);
  EXPECT_EQ(i.width, 720);
  EXPECT_EQ(i.height, 1280);
  EXPECT_FALSE(i.has_audio);
}

TEST(ParseProbeJson, AnamorphicUsesDisplayWidth) {
  std::string j = R"({"streams":[{"codec_type":"video","codec_name":"mpeg2video","width":720,"height":576,
    "sample_aspect_ratio":"64:45","avg_frame_rate":"25/1"}],"format":{"format_name":"mpeg","duration":"5.0"}})";
  const auto i = as<SourceInfo>(parse_probe_json(j, 3600));
  EXPECT_EQ(i.width, 1024);
  EXPECT_EQ(i.height, 576);
}

TEST(ParseProbeJson, AudioOnlyIsNotAVideo) {
  const auto f = as<MediaFailure>(parse_probe_json(kMp3, 3600));
  EXPECT_EQ(f.code, "not_a_video");
  EXPECT_NE(f.message.find("audio"), std::string::npos);
}

TEST(ParseProbeJson, StillImagesAreNotVideos) {
  for (const char* j : {kPng, kGif1, kJpeg, kTextAsTty}) {
    const auto f = as<MediaFailure>(parse_probe_json(j, 3600));
    EXPECT_EQ(f.code, "not_a_video") << j;
    EXPECT_EQ(f.message.find('/'), std::string::npos) << f.message;
  }
}

TEST(ParseProbeJson, AnimatedGifIsAVideo) {
  std::string j = R"({"streams":[{"codec_type":"video","codec_name":"gif","width":320,"height":240,
    "avg_frame_rate":"10/1","nb_frames":"50","duration":"5.0"}],"format":{"format_name":"gif","duration":"5.0"}})";
  const auto i = as<SourceInfo>(parse_probe_json(j, 3600));
  EXPECT_EQ(i.width, 320);
}

TEST(ParseProbeJson, ContainerMustBeAnAllowedVideoDemuxer) {
  // A playlist that ffprobe followed to a real video stream is still not an upload.
  for (const char* fmt : {"hls", "dash", "concat", "image2", "lavfi", "sdp", "rtsp", "data", "webm_dash_manifest"}) {
    std::string j = std::string(R"({"streams":[{"codec_type":"video","codec_name":"h264","width":320,"height":240,
      "avg_frame_rate":"25/1","nb_frames":"50"}],"format":{"format_name":")") +
                    fmt + R"(","duration":"2.0"}})";
    const auto f = as<MediaFailure>(parse_probe_json(j, 3600));
    EXPECT_EQ(f.code, "not_a_video") << fmt;
  }
  EXPECT_EQ(as<SourceInfo>(parse_probe_json(kH264Mp4, 3600)).demuxer, "mov");
  EXPECT_EQ(allowed_demuxer("matroska,webm"), "matroska");
  EXPECT_EQ(allowed_demuxer("mpegts"), "mpegts");
  EXPECT_EQ(allowed_demuxer("hls"), "");
  EXPECT_EQ(allowed_demuxer("mp4"), "");  // only the demuxer's first name is an ffmpeg -f name we allow
  EXPECT_EQ(allowed_demuxer(""), "");
  for (const auto& d : video_demuxers())
    for (const char* bad : {"hls", "dash", "concat", "image2", "lavfi", "tty", "sdp", "rtsp", "data"})
      EXPECT_NE(d, bad);
  EXPECT_EQ(input_args("mov", "/w/a.source"),
            (std::vector<std::string>{"-protocol_whitelist", "file", "-format_whitelist", "mov", "-f", "mov", "-i",
                                      "file:/w/a.source"}));
}

TEST(ParseProbeJson, GarbageAndEmptyAreCorrupt) {
  for (const char* j : {"", "{\n\n}", "not json at all", "[1,2,3]", "{\"streams\": [], \"format\": null}"}) {
    const auto f = as<MediaFailure>(parse_probe_json(j, 3600));
    EXPECT_EQ(f.code, "corrupt_input") << j;
    EXPECT_FALSE(f.message.empty());
  }
}

TEST(ParseProbeJson, ZeroDurationAndZeroSizeAreCorrupt) {
  std::string zero_dur = R"({"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360,
    "avg_frame_rate":"30/1"}],"format":{"format_name":"mov","duration":"0.000000"}})";
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(zero_dur, 3600)).code, "corrupt_input");
  std::string zero_size = R"({"streams":[{"codec_type":"video","codec_name":"h264","width":0,"height":0,
    "avg_frame_rate":"30/1"}],"format":{"format_name":"mov","duration":"10.0"}})";
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(zero_size, 3600)).code, "corrupt_input");
}

TEST(ParseProbeJson, TooLong) {
  const auto f = as<MediaFailure>(parse_probe_json(kH264Mp4, 30));
  EXPECT_EQ(f.code, "too_long");
  EXPECT_NE(f.message.find("30"), std::string::npos);
  // The path in format.filename never leaks into messages.
  EXPECT_EQ(f.message.find("/srv"), std::string::npos);
}

// ---------------------------------------------------------------- resource bounds

std::string video_json(int w, int h, const std::string& avg_rate, const std::string& nb_frames, double duration) {
  return R"({"streams":[{"codec_type":"video","codec_name":"h264","width":)" + std::to_string(w) + R"(,"height":)" +
         std::to_string(h) + R"(,"avg_frame_rate":")" + avg_rate + R"(","nb_frames":")" + nb_frames +
         R"("}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":")" + std::to_string(duration) + R"("}})";
}

TEST(ProbeLimits, PictureSizeIsBounded) {
  ProbeLimits lim;
  EXPECT_EQ(as<SourceInfo>(parse_probe_json(video_json(8192, 4320, "30/1", "300", 10), lim)).width, 8192);
  for (auto [w, h] : {std::pair{8193, 100}, std::pair{100, 8193}, std::pair{65535, 65535}}) {
    auto f = as<MediaFailure>(parse_probe_json(video_json(w, h, "30/1", "300", 10), lim));
    EXPECT_EQ(f.code, "unsupported_input") << w << "x" << h;
    EXPECT_NE(f.message.find(std::to_string(w) + "x" + std::to_string(h)), std::string::npos) << f.message;
  }
  lim.max_pixels = 3840LL * 2160;  // REND_MEDIA_MAX_PIXELS lowered to 4K UHD
  EXPECT_EQ(as<SourceInfo>(parse_probe_json(video_json(3840, 2160, "30/1", "300", 10), lim)).height, 2160);
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(video_json(4096, 2160, "30/1", "300", 10), lim)).code,
            "unsupported_input");
  // The limit applies to the coded size: a rotated portrait clip is not refused for
  // its swapped display size, and anamorphic stretching does not count.
  std::string anamorphic = R"({"streams":[{"codec_type":"video","codec_name":"h264","width":3840,"height":2160,
    "sample_aspect_ratio":"4:3","avg_frame_rate":"25/1"}],"format":{"format_name":"mpegts","duration":"5.0"}})";
  EXPECT_EQ(as<SourceInfo>(parse_probe_json(anamorphic, lim)).width, 5120);
}

TEST(ProbeLimits, FrameRateIsBounded) {
  ProbeLimits lim;
  lim.max_fps = 240;
  // iPhone slow motion: 240 fps (reported a hair above) is accepted.
  EXPECT_NEAR(as<SourceInfo>(parse_probe_json(video_json(1920, 1080, "24000/100", "2400", 10), lim)).fps, 240, 0.1);
  EXPECT_GT(as<SourceInfo>(parse_probe_json(video_json(1280, 720, "240100/1000", "2401", 10), lim)).fps, 240);
  // Declared above the limit.
  auto f = as<MediaFailure>(parse_probe_json(video_json(1280, 720, "960/1", "9600", 10), lim));
  EXPECT_EQ(f.code, "unsupported_input");
  EXPECT_NE(f.message.find("960"), std::string::npos) << f.message;
  // Declared absurdly (the fps field treats > 1000 as unknown) still counts.
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(video_json(320, 240, "100000/1", "1000000", 10), lim)).code,
            "unsupported_input");
  // Declared nothing, but a million frames in ten seconds.
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(video_json(320, 240, "0/0", "1000000", 10), lim)).code,
            "unsupported_input");
}

TEST(ProbeLimits, DurationLimitStillApplies) {
  ProbeLimits lim;
  lim.max_duration_s = 30;
  EXPECT_EQ(as<MediaFailure>(parse_probe_json(kH264Mp4, lim)).code, "too_long");
}

// ffprobe stand-ins: a runner that only records the options it was given and
// answers like a real child that was cut off at the cap.
class CappedRunner final : public core::ProcessRunner {
 public:
  core::ProcessOptions seen;
  std::vector<std::string> argv_seen;
  core::ProcessResult run(const std::vector<std::string>& argv, const core::ProcessOptions& opts) override {
    seen = opts;
    argv_seen = argv;
    core::ProcessResult r;
    r.out = std::string(opts.max_stdout_bytes ? opts.max_stdout_bytes : 64 << 20, ' ');
    r.stdout_overflow = opts.max_stdout_bytes != 0;
    r.exit_code = r.stdout_overflow ? -1 : 0;
    return r;
  }
};

TEST(Probe, OutputIsCappedAndOverflowIsCorruptInput) {
  CappedRunner runner;
  auto r = probe(runner, "ffprobe", "/nonexistent/src", ProbeLimits{}, std::chrono::seconds(5));
  EXPECT_EQ(runner.seen.max_stdout_bytes, kMaxProbeOutputBytes);
  ASSERT_TRUE(std::holds_alternative<MediaFailure>(r));
  EXPECT_EQ(std::get<MediaFailure>(r).code, "corrupt_input");
  EXPECT_EQ(std::get<MediaFailure>(r).message.find("/nonexistent"), std::string::npos);
}

TEST(Probe, RealRunnerStopsAnEndlessProber) {
  // A stand-in ffprobe that never stops printing: the real runner must cut it off.
  std::string dir = ::testing::TempDir() + "rend-probe-endless-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string fake = dir + "/ffprobe";
  {
    std::ofstream out(fake);
    out << "#!/bin/sh\nexec yes '{\"streams\": ['\n";
  }
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  core::PosixProcessRunner runner;
  auto t0 = std::chrono::steady_clock::now();
  auto r = probe(runner, fake, dir + "/src", ProbeLimits{}, std::chrono::seconds(30));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  ASSERT_TRUE(std::holds_alternative<MediaFailure>(r));
  EXPECT_EQ(std::get<MediaFailure>(r).code, "corrupt_input");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rend::media
