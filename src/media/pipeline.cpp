#include "media/pipeline.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/log.h"
#include "hls/playlist.h"

namespace rend::media {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- helpers

bool fast_path_eligible(const SourceInfo& info) {
  static const char* kProfiles[] = {"Baseline", "Constrained Baseline", "Main", "High"};
  bool profile_ok = std::any_of(std::begin(kProfiles), std::end(kProfiles),
                                [&](const char* p) { return info.profile == p; });
  return info.video_codec == "h264" && (info.pix_fmt == "yuv420p" || info.pix_fmt == "yuvj420p") &&
         info.rotation == 0 && profile_ok && (!info.has_audio || info.audio_codec == "aac") && info.fps > 0 &&
         info.fps <= 60.5 && info.width > 0 && info.height > 0;
}

FrameRate output_frame_rate(double fps) {
  if (!(fps > 0) || !std::isfinite(fps)) fps = 30;
  while (fps > 60.5) fps /= 2;
  struct Known {
    const char* expr;
    double value;
  };
  static const Known kKnown[] = {{"24000/1001", 24000.0 / 1001}, {"24", 24}, {"25", 25},
                                 {"30000/1001", 30000.0 / 1001}, {"30", 30}, {"50", 50},
                                 {"60000/1001", 60000.0 / 1001}, {"60", 60}};
  const Known* best = nullptr;
  for (const auto& k : kKnown)
    if (std::fabs(fps - k.value) / k.value < 0.015 && (!best || std::fabs(fps - k.value) < std::fabs(fps - best->value)))
      best = &k;
  if (best) return {best->expr, best->value};
  int r = std::max(1, int(std::lround(fps)));
  return {std::to_string(r), double(r)};
}

int64_t nominal_bandwidth(const Rung& r) {
  return int64_t(std::llround((r.video_kbps + r.audio_kbps) * 1000.0 * 1.1));
}

std::vector<std::string> ladder_command(const std::string& ffmpeg_path, const std::string& source_file,
                                        const SourceInfo& info, const std::vector<Rung>& ladder,
                                        const std::string& out_dir, int seg) {
  FrameRate fr = output_frame_rate(info.fps);
  size_t n = ladder.size();
  std::string graph = "[0:V:0]fps=" + fr.expr + ",split=" + std::to_string(n);
  for (size_t i = 0; i < n; ++i) graph += "[s" + std::to_string(i) + "]";
  for (size_t i = 0; i < n; ++i)
    graph += ";[s" + std::to_string(i) + "]scale=" + std::to_string(ladder[i].width) + ":" +
             std::to_string(ladder[i].height) + ",setsar=1[v" + std::to_string(i) + "]";

  std::vector<std::string> a = {ffmpeg_path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"};
  auto in = input_args(info.demuxer, source_file);
  a.insert(a.end(), in.begin(), in.end());
  a.insert(a.end(), {"-filter_complex", graph});
  for (size_t i = 0; i < n; ++i) {
    a.insert(a.end(), {"-map", "[v" + std::to_string(i) + "]"});
    if (info.has_audio) a.insert(a.end(), {"-map", "0:a:0"});
  }
  int gop = std::max(1, int(std::lround(fr.value * seg)));
  a.insert(a.end(), {"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
                     "-g", std::to_string(gop), "-sc_threshold", "0", "-force_key_frames",
                     "expr:gte(t,n_forced*" + std::to_string(seg) + ")", "-fps_mode:v", "cfr"});
  for (size_t i = 0; i < n; ++i) {
    std::string s = std::to_string(i);
    int k = ladder[i].video_kbps;
    a.insert(a.end(), {"-level:v:" + s, ladder[i].h264_level, "-b:v:" + s, std::to_string(k) + "k",
                       "-maxrate:v:" + s, std::to_string(k) + "k", "-bufsize:v:" + s, std::to_string(2 * k) + "k"});
  }
  if (info.has_audio) {
    a.insert(a.end(), {"-c:a", "aac", "-ac", "2", "-ar", "48000"});
    for (size_t i = 0; i < n; ++i)
      a.insert(a.end(), {"-b:a:" + std::to_string(i), std::to_string(ladder[i].audio_kbps) + "k"});
  }
  std::string map;
  for (size_t i = 0; i < n; ++i) {
    if (i) map += " ";
    map += "v:" + std::to_string(i);
    if (info.has_audio) map += ",a:" + std::to_string(i);
    map += ",name:" + ladder[i].name;
  }
  a.insert(a.end(), {"-f", "hls", "-hls_time", std::to_string(seg), "-hls_list_size", "0", "-hls_playlist_type",
                     "event", "-hls_flags", "temp_file+independent_segments", "-hls_segment_type", "mpegts",
                     "-hls_segment_filename", out_dir + "/%v/seg_%05d.ts", "-var_stream_map", map,
                     "-protocol_whitelist", "file", out_dir + "/%v/index.m3u8"});
  return a;
}

std::string ffmpeg_error_line(std::string_view err, int exit_code) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : err) {
    if (c == '\n' || c == '\r') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  lines.push_back(cur);
  static const std::regex kPtr(R"( @ 0x[0-9a-fA-F]+)");
  static const std::regex kPath(R"((file:)?(/[^\s'",:;]+)+)");
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string l = *it;
    auto b = l.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    l = l.substr(b, l.find_last_not_of(" \t") - b + 1);
    if (l == "Conversion failed!" || l.starts_with("Last message repeated") || l.starts_with("frame=") ||
        l.starts_with("size=") || l.starts_with("video:") || l.starts_with("Exiting normally") ||
        l.starts_with("Press [q]"))
      continue;
    l = std::regex_replace(l, kPtr, "");
    l = std::regex_replace(l, kPath, "<file>");
    if (l.size() > 300) l = l.substr(0, 300) + "...";
    return l;
  }
  return "ffmpeg exited with code " + std::to_string(exit_code);
}

namespace {

bool valid_segment_name(std::string_view s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct StepError : std::runtime_error {
  std::string code;
  StepError(std::string c, const std::string& m) : std::runtime_error(m), code(std::move(c)) {}
};

// One HLS rendition being published from a local directory to the store.
struct Rendition {
  std::string name;         // "720p" or "src"
  fs::path dir;             // local
  std::string key_prefix;   // assets/{id}/{name}/
  size_t uploaded = 0;      // segments uploaded (in playlist order)
  std::string last_playlist;
  bool playlist_uploaded = false;
  bool ended = false;
  std::vector<double> durations;
  std::vector<uint64_t> sizes;

  Rendition(std::string n, fs::path d, std::string k) : name(std::move(n)), dir(std::move(d)), key_prefix(std::move(k)) {}

  // Uploads newly listed segments, then the playlist if every segment it lists is up.
  // `final`: the writer has exited, everything listed must exist.
  void publish(store::ObjectStore& objects, bool final, const std::function<void()>& between) {
    std::string text = read_file(dir / "index.m3u8");
    if (text.empty()) {
      if (final) throw StepError("transcode_failed", "the " + name + " rendition produced no playlist");
      return;
    }
    if (text == last_playlist) return;
    hls::MediaPlaylistInfo pl = hls::parse_media_playlist(text);
    for (size_t i = uploaded; i < pl.segment_uris.size(); ++i) {
      const std::string& uri = pl.segment_uris[i];
      if (!valid_segment_name(uri)) throw StepError("transcode_failed", "unexpected segment name in playlist");
      fs::path local = dir / uri;
      std::error_code ec;
      bool pending = fs::exists(fs::path(local.string() + ".tmp"), ec) || !fs::exists(local, ec);
      if (pending) {
        if (final) throw StepError("transcode_failed", "a listed segment is missing");
        return;  // try again on the next tick; the playlist waits for its segments
      }
      uint64_t size = fs::file_size(local, ec);
      objects.put_file(key_prefix + uri, local.string());
      durations.push_back(pl.durations[i]);
      sizes.push_back(ec ? 0 : size);
      uploaded = i + 1;
      if (between) between();
    }
    objects.put_bytes(key_prefix + "index.m3u8", text);
    last_playlist = std::move(text);
    playlist_uploaded = true;
    ended = pl.ended;
  }

  // {peak, average} bit/s over the uploaded segments.
  std::pair<int64_t, int64_t> measured_bandwidth() const {
    double total_bits = 0, total_dur = 0, peak = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      double bits = double(sizes[i]) * 8;
      total_bits += bits;
      total_dur += durations[i];
      // A very short last segment says little about the peak.
      if (durations[i] >= 1.0 || sizes.size() == 1)
        peak = std::max(peak, durations[i] > 0 ? bits / durations[i] : 0.0);
    }
    int64_t avg = total_dur > 0 ? int64_t(std::llround(total_bits / total_dur)) : 0;
    return {int64_t(std::llround(std::max(peak, double(avg)))), avg};
  }
};

void poster_dims(const SourceInfo& info, int& w, int& h) {
  int s = std::min(info.width, info.height);
  double scale = s > 720 ? 720.0 / s : 1.0;
  w = std::max(2, int(std::lround(info.width * scale / 2.0)) * 2);
  h = std::max(2, int(std::lround(info.height * scale / 2.0)) * 2);
}

}  // namespace

bool is_retryable_failure(std::string_view code) { return code == "storage_failed" || code == "worker_failed"; }

// ---------------------------------------------------------------- PrivateWorkDir

PrivateWorkDir::PrivateWorkDir(const std::string& parent, const std::string& prefix) {
  fs::create_directories(parent);
  // mkdtemp creates the directory with mode 0700 and a name nobody can predict, so
  // neither another job (a re-claim of the same asset) nor another local user can
  // read, replace or pre-create files in it.
  std::string tmpl = (fs::path(parent) / (prefix + ".XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = buf.data();
}

PrivateWorkDir::~PrivateWorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------- Pipeline

Pipeline::Pipeline(PipelineConfig config, core::ProcessRunner& runner, store::ObjectStore& objects)
    : cfg_(std::move(config)), runner_(runner), objects_(objects) {
  if (cfg_.segment_seconds <= 0) cfg_.segment_seconds = 4;
  if (cfg_.process_timeout.count() <= 0) cfg_.process_timeout = std::chrono::hours(6);
}

PipelineResult Pipeline::run(const std::string& asset_id, const std::string& source_file, const SourceInfo& info,
                             const PipelineHooks& hooks) {
  PipelineResult res;
  auto fail = [&](std::string code, std::string msg) {
    res.ok = false;
    res.retryable = is_retryable_failure(code);
    res.error_code = std::move(code);
    res.error_message = std::move(msg);
    res.tiers.clear();
    return res;
  };
  if (!valid_segment_name(asset_id) || asset_id.front() == '.')
    return fail("invalid_asset", "The asset id cannot be used as a storage key.");
  std::vector<Rung> ladder = choose_ladder(info.width, info.height, info.has_audio);
  if (ladder.empty()) return fail("corrupt_input", "The video has no usable picture size.");
  const std::string billing = billing_tier_for(ladder);
  std::vector<store::Tier> tiers;
  for (const auto& r : ladder) tiers.push_back({r.name, r.width, r.height, nominal_bandwidth(r)});
  const std::string prefix = "assets/" + asset_id + "/";
  const FrameRate out_fps = output_frame_rate(info.fps);
  const auto started = Clock::now();
  auto ms_since_start = [&] {
    return int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  };

  if (allowed_demuxer(info.demuxer) != info.demuxer || info.demuxer.empty())
    return fail("not_a_video", "The file is not in an accepted video container format.");

  std::unique_ptr<PrivateWorkDir> work;
  try {
    work = std::make_unique<PrivateWorkDir>(cfg_.work_root.empty() ? "." : cfg_.work_root, asset_id);
  } catch (const std::exception& e) {
    core::log::error("media_workdir_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
    return fail("worker_failed", "Could not create the work directory.");
  }
  const fs::path ladder_dir = work->path() / "ladder";
  const fs::path src_dir = work->path() / "src";
  const fs::path poster_file = work->path() / "poster.jpg";
  fs::create_directories(ladder_dir);

  // State shared with the helper thread (fast path + poster).
  enum class Master { none, fast, ladder_partial, final };
  std::mutex mu;
  Master master = Master::none;
  bool fast_ready = false;
  bool fast_phase_done = false;  // the remux finished (or failed, or did not apply)
  std::condition_variable fast_cv;
  std::atomic<bool> abort{false};
  std::atomic<bool> poster_done{false};

  auto make_poster = [&](double at) -> bool {
    int w, h;
    poster_dims(info, w, h);
    char ss[32];
    std::snprintf(ss, sizeof ss, "%.3f", at);
    core::ProcessOptions po;
    po.timeout = std::min<std::chrono::milliseconds>(cfg_.process_timeout, std::chrono::minutes(2));
    po.capture_stdout = false;
    po.should_cancel = [&] { return abort.load(); };
    std::vector<std::string> argv = {cfg_.ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                                     "-ss", ss};
    auto in = input_args(info.demuxer, source_file);
    argv.insert(argv.end(), in.begin(), in.end());
    argv.insert(argv.end(), {"-map", "0:V:0", "-frames:v", "1", "-vf",
                             "scale=" + std::to_string(w) + ":" + std::to_string(h) + ",setsar=1", "-q:v", "3",
                             "-f", "image2", "-update", "1", "-protocol_whitelist", "file", poster_file.string()});
    auto r = runner_.run(argv, po);
    std::error_code ec;
    if (r.exit_code != 0 || !fs::exists(poster_file, ec) || fs::file_size(poster_file, ec) == 0) return false;
    objects_.put_file(prefix + "poster.jpg", poster_file.string());
    return true;
  };
  auto poster_with_fallback = [&] {
    double at = info.duration_s >= 2.0 ? 1.0 : info.duration_s / 2;
    bool ok = make_poster(at) || (!abort.load() && make_poster(0));
    if (ok) poster_done = true;
    else if (!abort.load()) core::log::warn("media_poster_failed", {{"asset_id", asset_id}});
  };

  const bool fast = fast_path_eligible(info);
  std::thread helper([&] {
    if (fast) {
      try {
        fs::create_directories(src_dir);
        core::ProcessOptions po;
        po.timeout = cfg_.process_timeout;
        po.capture_stdout = false;
        po.should_cancel = [&] { return abort.load(); };
        std::vector<std::string> argv = {cfg_.ffmpeg_path, "-hide_banner", "-nostdin", "-nostats", "-loglevel",
                                         "error", "-y"};
        auto in = input_args(info.demuxer, source_file);
        argv.insert(argv.end(), in.begin(), in.end());
        argv.insert(argv.end(), {"-map", "0:V:0", "-map", "0:a:0?", "-c:v", "copy"});
        if (info.has_audio) argv.insert(argv.end(), {"-c:a", "copy"});
        argv.insert(argv.end(), {"-f", "hls", "-hls_time", std::to_string(cfg_.segment_seconds), "-hls_list_size",
                                 "0", "-hls_playlist_type", "vod", "-hls_flags", "independent_segments",
                                 "-hls_segment_type", "mpegts", "-hls_segment_filename",
                                 (src_dir / "seg_%05d.ts").string(), "-protocol_whitelist", "file",
                                 (src_dir / "index.m3u8").string()});
        auto r = runner_.run(argv, po);
        if (r.exit_code == 0 && !abort.load()) {
          Rendition src{"src", src_dir, prefix + "src/"};
          src.publish(objects_, true, nullptr);
          auto [peak, avg] = src.measured_bandwidth();
          hls::Variant v{"src/index.m3u8", std::max(peak, int64_t(std::llround(avg * 1.2))), info.width, info.height,
                    codecs_for_source(info), info.fps, avg};
          std::lock_guard lock(mu);
          if (master == Master::none) {
            objects_.put_bytes(prefix + "master.m3u8", hls::master_playlist({v}));
            master = Master::fast;
          }
          fast_ready = true;
          core::log::info("media_fast_path_ready", {{"asset_id", asset_id}, {"ms", ms_since_start()}});
        } else if (!abort.load()) {
          core::log::warn("media_fast_path_failed",
                          {{"asset_id", asset_id}, {"detail", ffmpeg_error_line(r.err_tail, r.exit_code)}});
        }
      } catch (const std::exception& e) {
        core::log::warn("media_fast_path_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
      }
    }
    {
      std::lock_guard lock(mu);
      fast_phase_done = true;
    }
    fast_cv.notify_all();
    try {
      if (!abort.load()) poster_with_fallback();
    } catch (const std::exception& e) {
      core::log::warn("media_poster_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
    }
  });
  struct Joiner {
    std::thread& t;
    std::atomic<bool>& abort;
    ~Joiner() {
      if (t.joinable()) {
        abort = true;
        t.join();
      }
    }
  } joiner{helper, abort};

  std::vector<Rendition> rends;
  for (const auto& r : ladder) rends.push_back({r.name, ladder_dir / r.name, prefix + r.name + "/"});

  bool playable_called = false;
  auto call_playable = [&] {
    if (playable_called) return;
    playable_called = true;
    core::log::info("media_playable", {{"asset_id", asset_id}, {"ms", ms_since_start()}, {"fast_path", fast}});
    if (hooks.on_playable) hooks.on_playable(tiers, billing);
  };
  auto ladder_variants = [&](bool measured) {
    std::vector<hls::Variant> vs;
    for (size_t i = 0; i < ladder.size(); ++i) {
      hls::Variant v{ladder[i].name + "/index.m3u8", tiers[i].bandwidth, ladder[i].width, ladder[i].height,
                ladder[i].codecs, out_fps.value, 0};
      if (measured) {
        auto [peak, avg] = rends[i].measured_bandwidth();
        v.bandwidth = std::max(v.bandwidth, peak);
        v.average_bandwidth = avg;
      }
      vs.push_back(v);
    }
    return vs;
  };

  auto last_user_tick = Clock::now();
  auto user_tick = [&] {
    if (hooks.on_tick && Clock::now() - last_user_tick >= std::chrono::seconds(1)) {
      last_user_tick = Clock::now();
      hooks.on_tick();
    }
  };
  auto last_cancel_check = Clock::time_point{};
  bool cancelled = false;
  std::string step_code, step_message;

  auto progress = [&] {
    user_tick();
    {
      std::lock_guard lock(mu);
      if (fast_ready) call_playable();
    }
    for (auto& r : rends) r.publish(objects_, false, user_tick);
    if (hooks.on_progress) {
      double expected = std::max(1.0, std::ceil(info.duration_s / cfg_.segment_seconds)) * double(rends.size());
      size_t done = 0;
      for (const auto& r : rends) done += r.uploaded;
      hooks.on_progress(std::min(0.99, double(done) / expected));
    }
    if (!playable_called &&
        std::all_of(rends.begin(), rends.end(), [](const Rendition& r) { return r.playlist_uploaded && r.uploaded > 0; })) {
      std::lock_guard lock(mu);
      if (master == Master::none) {
        objects_.put_bytes(prefix + "master.m3u8", hls::master_playlist(ladder_variants(false)));
        master = Master::ladder_partial;
      }
      call_playable();
    }
  };

  core::ProcessOptions opts;
  opts.timeout = cfg_.process_timeout;
  opts.capture_stdout = false;
  opts.on_tick = [&] {
    if (abort.load()) return;
    try {
      progress();
    } catch (const StepError& e) {
      step_code = e.code;
      step_message = e.what();
      abort = true;
    } catch (const std::exception& e) {
      step_code = "storage_failed";
      step_message = "Publishing the renditions failed.";
      core::log::error("media_publish_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
      abort = true;
    }
  };
  opts.should_cancel = [&] {
    if (abort.load()) return true;
    if (hooks.should_cancel && Clock::now() - last_cancel_check >= std::chrono::milliseconds(250)) {
      last_cancel_check = Clock::now();
      if (hooks.should_cancel()) {
        cancelled = true;
        abort = true;
        return true;
      }
    }
    return false;
  };

  // The remux is I/O-bound and takes a fraction of a second; starting the CPU-heavy
  // ladder only after it keeps time-to-playable low on small machines (the ladder is
  // delayed by that fraction). A slow remux (huge file) no longer holds it back after
  // kMaxFastWait.
  if (fast) {
    constexpr auto kMaxFastWait = std::chrono::seconds(10);
    auto deadline = Clock::now() + kMaxFastWait;
    std::unique_lock lock(mu);
    while (!fast_phase_done && Clock::now() < deadline) {
      fast_cv.wait_for(lock, std::chrono::milliseconds(100));
      lock.unlock();
      try {
        user_tick();
      } catch (const std::exception& e) {
        abort = true;
        return fail("storage_failed", "Publishing the renditions failed.");
      }
      if (opts.should_cancel()) return fail("cancelled", "Processing was cancelled.");
      lock.lock();
    }
    if (fast_ready) {
      lock.unlock();
      try {
        call_playable();
      } catch (const std::exception& e) {
        abort = true;
        core::log::error("media_publish_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
        return fail("storage_failed", "Publishing the renditions failed.");
      }
    }
  }

  auto argv = ladder_command(cfg_.ffmpeg_path, source_file, info, ladder, ladder_dir.string(), cfg_.segment_seconds);
  core::ProcessResult pr;
  try {
    pr = runner_.run(argv, opts);
  } catch (const std::exception& e) {
    // pipe/fork failed: the machine, not the input (out of processes or fds).
    abort = true;
    core::log::error("media_spawn_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
    return fail("worker_failed", "Could not start the transcoder.");
  }
  if (cancelled) return fail("cancelled", "Processing was cancelled.");
  if (!step_code.empty()) {
    core::log::error("media_publish_failed", {{"asset_id", asset_id}, {"detail", step_message}});
    return fail(step_code, step_message);
  }
  if (pr.timed_out) return fail("transcode_failed", "Transcoding timed out.");
  if (pr.exit_code != 0) {
    std::string line = ffmpeg_error_line(pr.err_tail, pr.exit_code);
    core::log::error("media_transcode_failed", {{"asset_id", asset_id}, {"exit_code", pr.exit_code}, {"detail", line}});
    return fail("transcode_failed", line);
  }
  core::log::info("media_ladder_encoded", {{"asset_id", asset_id}, {"ms", ms_since_start()}});

  // The helper (fast path, poster) normally finished long ago; wait for it.
  helper.join();
  try {
    if (hooks.should_cancel && hooks.should_cancel()) return fail("cancelled", "Processing was cancelled.");
    {
      std::lock_guard lock(mu);
      if (fast_ready) call_playable();
    }
    for (auto& r : rends) {
      r.publish(objects_, true, user_tick);
      if (!r.ended || r.uploaded == 0) throw StepError("transcode_failed", "The " + r.name + " rendition is incomplete.");
    }
    auto variants = ladder_variants(true);
    for (size_t i = 0; i < tiers.size(); ++i) tiers[i].bandwidth = variants[i].bandwidth;
    {
      std::lock_guard lock(mu);
      objects_.put_bytes(prefix + "master.m3u8", hls::master_playlist(variants));
      master = Master::final;
    }
    if (!poster_done.load()) poster_with_fallback();
    call_playable();
  } catch (const StepError& e) {
    return fail(e.code, e.what());
  } catch (const std::exception& e) {
    core::log::error("media_publish_failed", {{"asset_id", asset_id}, {"detail", std::string(e.what())}});
    return fail("storage_failed", "Publishing the renditions failed.");
  }
  core::log::info("media_hls_ready", {{"asset_id", asset_id}, {"ms", ms_since_start()}, {"rungs", int(ladder.size())}});
  res.ok = true;
  res.tiers = tiers;
  res.billing_tier = billing;
  return res;
}

}  // namespace rend::media
