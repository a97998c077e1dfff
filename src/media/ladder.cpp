#include "media/ladder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "billing/tier.h"

namespace rend::media {
namespace {

struct RungSpec {
  int short_side;
  int video_kbps;
  const char* level;
  const char* level_hex;
};

constexpr RungSpec kSpecs[] = {
    {2160, 16000, "5.1", "33"}, {1440, 9000, "5.0", "32"}, {1080, 5500, "4.0", "28"},
    {720, 3000, "3.1", "1f"},   {540, 1800, "3.1", "1f"},  {360, 800, "3.0", "1e"},
};

const RungSpec* spec_for(int short_side) {
  for (const auto& s : kSpecs)
    if (s.short_side == short_side) return &s;
  return nullptr;
}

int even(double v) { return std::max(2, int(std::lround(v / 2.0)) * 2); }

Rung make_rung(int short_target, int src_w, int src_h, bool has_audio) {
  bool landscape = src_w >= src_h;
  int src_short = landscape ? src_h : src_w;
  int src_long = landscape ? src_w : src_h;
  int s = std::min(short_target, src_short);
  // Rounded to even, but never above the source (rounded down to even).
  int short_px = std::min(even(s), std::max(2, src_short / 2 * 2));
  int long_px = std::min(even(double(src_long) * s / src_short), std::max(2, src_long / 2 * 2));
  Rung r;
  r.name = std::to_string(short_target) + "p";
  r.width = landscape ? long_px : short_px;
  r.height = landscape ? short_px : long_px;
  const RungSpec* spec = spec_for(short_target);
  if (spec) {
    r.video_kbps = spec->video_kbps;
    r.h264_level = spec->level;
    r.codecs = std::string("avc1.6400") + spec->level_hex;
  } else {
    // Below 360p: scale the 360p bitrate by pixel count (at least 200 kbps).
    double px = double(r.width) * r.height / (640.0 * 360.0);
    r.video_kbps = std::max(200, int(std::lround(800 * px / 50.0)) * 50);
    r.h264_level = "3.0";
    r.codecs = "avc1.64001e";
  }
  if (has_audio) {
    r.audio_kbps = short_target <= 540 ? 96 : 128;
    r.codecs += ",mp4a.40.2";
  }
  return r;
}

}  // namespace

int max_short_side_for_tier(std::string_view tier) {
  if (tier == "720p") return 720;
  if (tier == "1080p") return 1080;
  if (tier == "2k") return 1440;
  return 0;
}

std::vector<Rung> choose_ladder(int width, int height, bool has_audio, int max_short_side) {
  if (width <= 0 || height <= 0) return {};
  int short_side = std::min(width, height);
  // The cap only chooses the targets; make_rung still scales from the real source.
  if (max_short_side > 0) short_side = std::min(short_side, max_short_side);
  std::vector<int> targets;
  if (short_side >= 2160) targets = {2160, 1080, 720, 360};
  else if (short_side >= 1440) targets = {1440, 1080, 720, 360};
  else if (short_side >= 1080) targets = {1080, 720, 540, 360};
  else if (short_side >= 720) targets = {720, 540, 360};
  else if (short_side >= 540) targets = {540, 360};
  else if (short_side >= 360) targets = {360};
  std::vector<Rung> out;
  for (int t : targets) out.push_back(make_rung(t, width, height, has_audio));
  if (targets.empty()) {
    // Smaller than 360p: one rung at the source size, named after its (even) short side.
    Rung r = make_rung(short_side, width, height, has_audio);
    r.name = std::to_string(std::min(r.width, r.height)) + "p";
    out.push_back(r);
  }
  return out;
}

std::string billing_tier_for(const std::vector<Rung>& ladder) {
  if (ladder.empty()) return "720p";
  return std::string(billing::tier_for_height(std::min(ladder.front().width, ladder.front().height)));
}

namespace {
// Short keyframes only below the grid's first step (a 2 s grid: 0 1, then 2 4 6 ...).
int short_keyframes(int seg) { return std::max(1, std::min(kShortKeyframes, seg)); }
}  // namespace

std::vector<double> keyframe_times(int seg, double duration_s) {
  seg = std::max(1, seg);
  const int m = short_keyframes(seg);
  std::vector<double> out;
  for (int n = 0;; ++n) {
    double t = n < m ? n : double(seg) * (n - m + 1);
    if (t >= duration_s && n > 0) break;
    out.push_back(t);
  }
  return out;
}

std::string force_key_frames_expr(int seg) {
  seg = std::max(1, seg);
  const std::string m = std::to_string(short_keyframes(seg));
  // n_forced: keyframes forced so far. The n-th is at n s while n < m, then at
  // seg * (n - m + 1).
  return "expr:if(lt(n_forced," + m + "),gte(t,n_forced),gte(t," + std::to_string(seg) + "*(n_forced-" +
         std::to_string(short_keyframes(seg) - 1) + ")))";
}

std::string codecs_for_source(const SourceInfo& info) {
  const std::string& p = info.profile;
  const char* prefix = "6400";  // High
  if (p == "Baseline" || p == "Constrained Baseline") prefix = "42E0";
  else if (p == "Main") prefix = "4D40";
  int level = info.level > 0 && info.level < 256 ? info.level : 40;
  char buf[64];
  std::snprintf(buf, sizeof buf, "avc1.%s%02x", prefix, level);
  std::string s = buf;
  if (info.has_audio) s += ",mp4a.40.2";
  return s;
}

}  // namespace rend::media
