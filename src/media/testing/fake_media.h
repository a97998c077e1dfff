#pragma once
// Test only. What ffprobe prints and ffmpeg leaves on disk for the pipeline's runs,
// for a core::testing::ScriptedRunner: a job then runs end to end with no ffmpeg.
//
//   ScriptedRunner r;
//   script_good_job(r, 320, 240, 2.0);          // probe, remux, ladder, poster all work
//   r.on(ladder_run(), Reply::exits(1, "..."), 1);  // except the next ladder encode
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/testing/scripted_runner.h"
#include "media/ladder.h"

namespace rend::media::testing {

using Files = std::vector<std::pair<std::string, std::string>>;

// ffprobe's JSON for an MP4 with H.264 High video at 25 fps (fast-path eligible with
// the default pix_fmt) and, when `audio`, AAC.
inline std::string ffprobe_json(int w, int h, double seconds, const std::string& pix_fmt = "yuv420p",
                                bool audio = true) {
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.6f", seconds);
  std::string j = R"({"streams": [{"index": 0, "codec_name": "h264", "profile": "High", "codec_type": "video", )";
  j += "\"width\": " + std::to_string(w) + ", \"height\": " + std::to_string(h) + ", ";
  j += R"("sample_aspect_ratio": "1:1", "pix_fmt": ")" + pix_fmt + R"(", "level": 30, )";
  j += R"("r_frame_rate": "25/1", "avg_frame_rate": "25/1", "duration": ")" + std::string(dur) + "\", ";
  j += "\"nb_frames\": \"" + std::to_string(int(std::lround(seconds * 25))) + "\", ";
  j += R"("disposition": {"default": 1, "attached_pic": 0}})";
  if (audio)
    j += R"(, {"index": 1, "codec_name": "aac", "profile": "LC", "codec_type": "audio", "sample_rate": "48000",
               "channels": 2, "disposition": {"default": 1, "attached_pic": 0}})";
  j += R"(], "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": ")" + std::string(dur) +
       R"(", "size": "100000", "bit_rate": "400000"}})";
  return j;
}

// ffprobe's JSON for an MP3 with cover art: not a video.
inline std::string ffprobe_json_audio_only() {
  return R"({"streams": [{"index": 0, "codec_name": "mp3", "codec_type": "audio", "duration": "3.0",
                          "disposition": {"default": 0, "attached_pic": 0}}],
             "format": {"format_name": "mp3", "duration": "3.0", "size": "24468"}})";
}

// A finished HLS rendition as ffmpeg's muxer leaves it in `dir` ("" or "720p"):
// the segments, then the playlist listing them (with #EXT-X-ENDLIST).
inline Files hls_files(const std::string& dir, int segments, double segment_s = 4) {
  std::string base = dir.empty() ? "" : dir + "/";
  Files f;
  std::string pl = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:" + std::to_string(int(std::ceil(segment_s))) +
                   "\n#EXT-X-MEDIA-SEQUENCE:0\n";
  for (int i = 0; i < segments; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "seg_%05d.ts", i);
    f.emplace_back(base + name, std::string(9400, char('A' + i % 26)));  // 50 TS packets' worth
    char inf[64];
    std::snprintf(inf, sizeof inf, "#EXTINF:%.6f,\n", segment_s);
    pl += inf + std::string(name) + "\n";
  }
  pl += "#EXT-X-ENDLIST\n";
  f.emplace_back(base + "index.m3u8", pl);
  return f;
}

// The pipeline's ffmpeg runs, told apart by an argument only that run has.
inline core::testing::Matcher probe_run() { return core::testing::program("ffprobe"); }
inline core::testing::Matcher remux_run() { return core::testing::program_with("ffmpeg", "copy"); }
inline core::testing::Matcher ladder_run() { return core::testing::program_with("ffmpeg", "-filter_complex"); }
// The poster's own run (when the ladder's decode made none): a seek to its time.
inline core::testing::Matcher poster_run() { return core::testing::program_with("ffmpeg", "-ss"); }
// (The storyboard is a branch of the ladder run: this one must never match.)
inline core::testing::Matcher storyboard_run() { return core::testing::program_with("ffmpeg", "-start_number"); }
inline core::testing::Matcher first_run() { return core::testing::program_with("ffmpeg", "ultrafast"); }

// The first rendition's encode output: 1 s, 1 s, 2 s segments (the ladder's short
// ones; fewer when the clip is shorter), then its playlist.
inline Files first_files(double seconds) {
  Files f;
  std::string pl = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n";
  const double ends[] = {1, 2, 4};
  double start = 0;
  for (int i = 0; i < 3 && start < seconds; ++i) {
    double end = std::min(ends[i], seconds);
    char name[32], inf[64];
    std::snprintf(name, sizeof name, "seg_%05d.ts", i);
    std::snprintf(inf, sizeof inf, "#EXTINF:%.6f,\n", end - start);
    f.emplace_back(name, std::string(1880, char('a' + i)));
    pl += inf + std::string(name) + "\n";
    start = end;
  }
  pl += "#EXT-X-ENDLIST\n";
  f.emplace_back("index.m3u8", pl);
  return f;
}

// The storyboard sheet and the poster the ladder run writes (its image2 outputs, next
// to the ladder dir).
inline Files ladder_sheets() {
  return {{"../storyboard/sheet_0001.jpg", std::string(4096, 'S')}, {"../poster.jpg", std::string(2048, 'P')}};
}

// Every run of a job on a w x h H.264 source works: the probe, the remux, the ladder
// (the rungs choose_ladder picks, each with its segments), the first rendition's
// encode (when the fast path does not apply), and the storyboard's one sheet and the
// poster (written by the ladder run; the poster's own run works too).
// `max_short_side`: the ladder cap the job runs with (0: none).
inline void script_good_job(core::testing::ScriptedRunner& r, int w, int h, double seconds,
                            const std::string& pix_fmt = "yuv420p", int max_short_side = 0) {
  using core::testing::Reply;
  int segments = std::max(1, int(std::ceil(seconds / 4)));
  r.on(probe_run(), Reply::prints(ffprobe_json(w, h, seconds, pix_fmt)));
  r.on(remux_run(), {.files = hls_files("", segments)});
  Files ladder;
  for (const auto& rung : choose_ladder(w, h, true, max_short_side)) {
    auto f = hls_files(rung.name, segments);
    ladder.insert(ladder.end(), f.begin(), f.end());
  }
  Files sheets = ladder_sheets();
  ladder.insert(ladder.begin(), sheets.begin(), sheets.end());
  r.on(ladder_run(), {.files = ladder});
  r.on(first_run(), {.files = first_files(seconds)});
  r.on(poster_run(), {.files = {{"poster.jpg", std::string(2048, 'J')}}});
}

}  // namespace rend::media::testing
