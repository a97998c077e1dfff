#include "media/stages.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/log.h"
#include "media/errors.h"

namespace rend::media::stages {
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A store failure: the detail goes to the log, the status says storage_failed.
core::Status publish_failed(const JobContext& ctx, const std::exception& e) {
  core::log::error("media_publish_failed", {{"asset_id", ctx.asset_id}, {"detail", std::string(e.what())}});
  return errors::storage_failed();
}

}  // namespace

bool valid_segment_name(std::string_view s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// ---------------------------------------------------------------- Rendition

void Rendition::publish(store::ObjectStore& objects, bool final, const std::function<void()>& between) {
  std::string text = read_file(dir / "index.m3u8");
  if (text.empty()) {
    if (final) throw StageError(errors::transcode_failed("the " + name + " rendition produced no playlist"));
    return;
  }
  if (text == last_playlist) return;
  hls::MediaPlaylistInfo pl = hls::parse_media_playlist(text);
  for (size_t i = uploaded; i < pl.segment_uris.size(); ++i) {
    const std::string& uri = pl.segment_uris[i];
    if (!valid_segment_name(uri)) throw StageError(errors::transcode_failed("unexpected segment name in playlist"));
    fs::path local = dir / uri;
    std::error_code ec;
    bool pending = fs::exists(fs::path(local.string() + ".tmp"), ec) || !fs::exists(local, ec);
    if (pending) {
      if (final) throw StageError(errors::transcode_failed("a listed segment is missing"));
      return;  // try again on the next tick; the playlist waits for its segments
    }
    uint64_t size = fs::file_size(local, ec);
    objects.put_file(key_prefix + uri, local.string());
    uris.push_back(uri);
    durations.push_back(pl.durations[i]);
    sizes.push_back(ec ? 0 : size);
    uploaded = i + 1;
    if (between) between();
  }
  if (own_playlist) objects.put_bytes(key_prefix + "index.m3u8", text);
  last_playlist = std::move(text);
  playlist_uploaded = true;
  ended = pl.ended;
}

std::pair<int64_t, int64_t> Rendition::measured_bandwidth() const {
  double total_bits = 0, total_dur = 0, peak = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    double bits = double(sizes[i]) * 8;
    total_bits += bits;
    total_dur += durations[i];
    // A very short last segment says little about the peak.
    if (durations[i] >= 1.0 || sizes.size() == 1) peak = std::max(peak, durations[i] > 0 ? bits / durations[i] : 0.0);
  }
  int64_t avg = total_dur > 0 ? int64_t(std::llround(total_bits / total_dur)) : 0;
  return {int64_t(std::llround(std::max(peak, double(avg)))), avg};
}

// ---------------------------------------------------------------- first rendition

std::string FirstRendition::playlist(const Rendition& rung, const std::string& rung_dir, int segment_seconds,
                                     bool join) const {
  struct Entry {
    std::string uri;
    double duration;
    bool discontinuity;
  };
  std::vector<Entry> entries;
  double fast_end = 0;
  for (size_t i = 0; i < fast.uploaded; ++i) {
    entries.push_back({fast.uris[i], fast.durations[i], false});
    fast_end += fast.durations[i];
  }
  bool ended = false;
  if (join) {
    // The rung's segments from where the fast ones end: both cut at the same keyframe
    // times, so one of its segments starts there (within rounding).
    double start = 0;
    bool first_joined = true;
    for (size_t i = 0; i < rung.uploaded; ++i) {
      if (start >= fast_end - 0.1) {
        entries.push_back(
            {"../" + rung_dir + "/" + rung.uris[i], rung.durations[i], first_joined && fast.uploaded > 0});
        first_joined = false;
      }
      start += rung.durations[i];
    }
    ended = rung.ended;
  }
  int target = std::max(1, segment_seconds);
  // RFC 8216: each duration ROUNDED to the nearest integer must not exceed it (a
  // 29.97 fps segment lasts 4.004 s: 4, as the rung's own playlist says).
  for (const auto& e : entries) target = std::max(target, int(std::lround(e.duration)));
  std::string out = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:" + std::to_string(target) +
                    "\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (const auto& e : entries) {
    if (e.discontinuity) out += "#EXT-X-DISCONTINUITY\n";
    char inf[64];
    std::snprintf(inf, sizeof inf, "#EXTINF:%.6f,\n", e.duration);
    out += inf + e.uri + "\n";
  }
  if (ended) out += "#EXT-X-ENDLIST\n";
  return out;
}

// ---------------------------------------------------------------- shared state

bool MasterSlot::write_first(store::ObjectStore& objects, const std::string& key, const std::string& text, Kind kind) {
  std::lock_guard lock(mu_);
  if (kind_ != Kind::none) return false;
  objects.put_bytes(key, text);
  kind_ = kind;
  return true;
}

void MasterSlot::write_final(store::ObjectStore& objects, const std::string& key, const std::string& text) {
  std::lock_guard lock(mu_);
  objects.put_bytes(key, text);
  kind_ = Kind::final;
}

void RemuxSignal::set_ready() {
  std::lock_guard lock(mu_);
  ready_ = true;
}

void RemuxSignal::set_done() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

bool RemuxSignal::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

bool RemuxSignal::done() const {
  std::lock_guard lock(mu_);
  return done_;
}

void RemuxSignal::wait_done_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return done_; });
}

void JobContext::notify_playable() {
  if (playable_called_) return;
  playable_called_ = true;
  core::log::info("media_playable", {{"asset_id", asset_id}, {"ms", ms_since_start()}, {"fast_path", fast}});
  if (hooks.on_playable) hooks.on_playable(tiers, billing_tier);
}

void JobContext::tick() {
  if (hooks.on_tick && SteadyClock::now() - last_tick_ >= std::chrono::seconds(1)) {
    last_tick_ = SteadyClock::now();
    hooks.on_tick();
  }
}

bool JobContext::should_stop() {
  if (abort.load()) return true;
  if (hooks.should_cancel && SteadyClock::now() - last_cancel_check_ >= std::chrono::milliseconds(250)) {
    last_cancel_check_ = SteadyClock::now();
    if (hooks.should_cancel()) {
      cancelled = true;
      abort = true;
      return true;
    }
  }
  return false;
}

int64_t JobContext::ms_since_start() const {
  return int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count());
}

std::vector<hls::Variant> ladder_variants(const JobContext& ctx, bool measured) {
  std::vector<hls::Variant> vs;
  for (size_t i = 0; i < ctx.ladder.size(); ++i) {
    const Rung& r = ctx.ladder[i];
    hls::Variant v{r.name + "/index.m3u8", ctx.tiers[i].bandwidth, r.width, r.height, r.codecs, ctx.out_fps.value, 0};
    if (measured) {
      auto [peak, avg] = ctx.rends[i].measured_bandwidth();
      v.bandwidth = std::max(v.bandwidth, peak);
      v.average_bandwidth = avg;
    }
    vs.push_back(v);
  }
  return vs;
}

// ---------------------------------------------------------------- probe

core::Status ProbeStage::initialize() {
  JobContext& c = ctx_;
  if (!valid_segment_name(c.asset_id) || c.asset_id.front() == '.') return errors::invalid_asset();
  const int cap = max_short_side_for_tier(c.cfg.max_billing_tier);
  c.ladder = choose_ladder(c.info.width, c.info.height, c.info.has_audio, cap);
  if (c.ladder.empty()) return errors::corrupt_input("The video has no usable picture size.");
  c.billing_tier = billing_tier_for(c.ladder);
  for (const auto& r : c.ladder) c.tiers.push_back({r.name, r.width, r.height, nominal_bandwidth(r)});
  c.prefix = "assets/" + c.asset_id + "/";
  c.out_fps = output_frame_rate(c.info.fps);
  if (allowed_demuxer(c.info.demuxer) != c.info.demuxer || c.info.demuxer.empty())
    return errors::not_a_video("The file is not in an accepted video container format.");
  try {
    c.work = std::make_unique<PrivateWorkDir>(c.cfg.work_root.empty() ? "." : c.cfg.work_root, c.asset_id);
  } catch (const std::exception& e) {
    core::log::error("media_workdir_failed", {{"asset_id", c.asset_id}, {"detail", std::string(e.what())}});
    return errors::worker_failed("Could not create the work directory.");
  }
  c.ladder_dir = c.work->path() / "ladder";
  c.src_dir = c.work->path() / "src";
  c.poster_file = c.work->path() / "poster.jpg";
  c.storyboard_dir = c.work->path() / "storyboard";
  c.storyboard = storyboard_plan(c.info);
  c.first_dir = c.work->path() / "first";
  // The fast path serves the source as it is: not when that is above the plan's cap.
  c.fast = fast_path_eligible(c.info) && (cap == 0 || std::min(c.info.width, c.info.height) <= cap);
  if (!c.fast) c.first = std::make_unique<FirstRendition>(Rendition{"first", c.first_dir, c.prefix + "first/"});
  return {};
}

// ---------------------------------------------------------------- opener (fast path)

// The opener and the poster each own a helper thread; each destructor (the same four
// lines, deliberately in both) aborts the job and joins its own thread, so a run that
// ends early never leaves one behind.
OpenerStage::~OpenerStage() {
  if (thread_.joinable()) {
    ctx_.abort = true;
    thread_.join();
  }
}

core::Status OpenerStage::initialize() {
  if (!ctx_.fast) {
    // The poster and the storyboard wait for remux.done(): after the first rendition,
    // which decides time to playable.
    thread_ = std::thread([this] {
      encode_first();
      ctx_.first->encode.set_done();
      ctx_.remux.set_done();
    });
    return {};
  }
  thread_ = std::thread([this] {
    remux();
    ctx_.remux.set_done();
  });
  return {};
}

// Helper thread. A failed remux is not the job's failure: the ladder still runs.
void OpenerStage::remux() {
  JobContext& c = ctx_;
  try {
    fs::create_directories(c.src_dir);
    core::ProcessOptions po;
    po.timeout = c.cfg.process_timeout;
    po.capture_stdout = false;
    po.should_cancel = [&] { return c.abort.load(); };
    std::vector<std::string> argv = {c.cfg.ffmpeg_path, "-hide_banner", "-nostdin", "-nostats",
                                     "-loglevel",       "error",        "-y"};
    auto in = input_args(c.info.demuxer, c.source_file);
    argv.insert(argv.end(), in.begin(), in.end());
    argv.insert(argv.end(), {"-map", "0:V:0", "-map", "0:a:0?", "-c:v", "copy"});
    if (c.info.has_audio) argv.insert(argv.end(), {"-c:a", "copy"});
    argv.insert(argv.end(), {"-f", "hls", "-hls_time", std::to_string(c.cfg.segment_seconds), "-hls_list_size", "0",
                             "-hls_playlist_type", "vod", "-hls_flags", "independent_segments", "-hls_segment_type",
                             "mpegts", "-hls_segment_filename", (c.src_dir / "seg_%05d.ts").string(),
                             "-protocol_whitelist", "file", (c.src_dir / "index.m3u8").string()});
    auto r = c.runner.run(argv, po);
    if (r.exit_code == 0 && !c.abort.load()) {
      Rendition src{"src", c.src_dir, c.prefix + "src/"};
      src.publish(c.objects, true, nullptr);
      auto [peak, avg] = src.measured_bandwidth();
      hls::Variant v{"src/index.m3u8",
                     std::max(peak, int64_t(std::llround(avg * 1.2))),
                     c.info.width,
                     c.info.height,
                     codecs_for_source(c.info),
                     c.info.fps,
                     avg};
      // The ladder's partial master may have won the race on a slow remux: then the
      // remux is not announced either (its master never pointed at it).
      c.master.write_first(c.objects, c.prefix + "master.m3u8", hls::master_playlist({v}), MasterSlot::Kind::fast);
      c.remux.set_ready();
      core::log::info("media_fast_path_ready", {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}});
    } else if (!c.abort.load()) {
      core::log::warn("media_fast_path_failed",
                      {{"asset_id", c.asset_id}, {"detail", ffmpeg_error_line(r.err_tail, r.exit_code)}});
    }
  } catch (const std::exception& e) {
    core::log::warn("media_fast_path_failed", {{"asset_id", c.asset_id}, {"detail", std::string(e.what())}});
  }
}

// Helper thread. A failed first encode is not the job's failure: the ladder's lowest
// rung then makes the asset playable on its own.
void OpenerStage::encode_first() {
  JobContext& c = ctx_;
  try {
    fs::create_directories(c.first_dir);
    core::ProcessOptions po;
    po.timeout = c.cfg.process_timeout;
    po.capture_stdout = false;
    po.should_cancel = [&] { return c.abort.load(); };
    auto r = c.runner.run(first_rendition_command(c.cfg.ffmpeg_path, c.source_file, c.info, c.ladder.back(),
                                                  c.first_dir.string(), c.cfg.segment_seconds,
                                                  first_rendition_seconds(c.cfg.segment_seconds, c.info.duration_s)),
                          po);
    if (r.exit_code == 0 && !c.abort.load()) {
      c.first->encode.set_ready();
      core::log::info("media_first_encode_done", {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}});
    } else if (!c.abort.load()) {
      core::log::warn("media_first_encode_failed",
                      {{"asset_id", c.asset_id}, {"detail", ffmpeg_error_line(r.err_tail, r.exit_code)}});
    }
  } catch (const std::exception& e) {
    core::log::warn("media_first_encode_failed", {{"asset_id", c.asset_id}, {"detail", std::string(e.what())}});
  }
}

// The remux is I/O-bound and takes a fraction of a second; starting the CPU-heavy
// ladder only after it keeps time-to-playable low on small machines (the ladder is
// delayed by that fraction). A slow remux (huge file) no longer holds it back after
// kMaxFastWait.
core::Status OpenerStage::process() {
  if (!ctx_.fast) return {};
  constexpr auto kMaxFastWait = std::chrono::seconds(10);
  auto deadline = SteadyClock::now() + kMaxFastWait;
  while (!ctx_.remux.done() && SteadyClock::now() < deadline) {
    ctx_.remux.wait_done_for(std::chrono::milliseconds(100));
    try {
      ctx_.tick();
    } catch (const std::exception&) {
      ctx_.abort = true;
      return errors::storage_failed();
    }
    if (ctx_.should_stop()) return errors::cancelled();
  }
  if (ctx_.remux.ready()) {
    try {
      ctx_.notify_playable();
    } catch (const std::exception& e) {
      ctx_.abort = true;
      return publish_failed(ctx_, e);
    }
  }
  return {};
}

core::Status OpenerStage::flush() {
  // Normally finished long ago.
  if (thread_.joinable()) thread_.join();
  return {};
}

// ---------------------------------------------------------------- ladder

core::Status LadderStage::initialize() {
  fs::create_directories(ctx_.ladder_dir);
  for (const auto& r : ctx_.ladder)
    ctx_.rends.emplace_back(r.name, ctx_.ladder_dir / r.name, ctx_.prefix + r.name + "/");
  return {};
}

// Without a first rendition of its own (its encode failed, or the fast path's remux
// did): the ladder's lowest rung, once its first (1 s) segment is up, with a
// one-variant master.
void LadderStage::publish_rung_as_first() {
  JobContext& c = ctx_;
  Rendition& rung = c.rends.back();
  if (c.playable_notified() || !rung.playlist_uploaded || rung.uploaded == 0) return;
  if (c.master.write_first(c.objects, c.prefix + "master.m3u8",
                           hls::master_playlist({ladder_variants(c, false).back()}), MasterSlot::Kind::first_rendition))
    core::log::info("media_first_rendition_ready",
                    {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}, {"rung", rung.name}});
  c.notify_playable();
}

// The first rendition (FirstRendition): its fast segments and playlist first, then a
// one-variant master pointing at first/index.m3u8 → playable. If its encode failed
// before a segment, the ladder's lowest rung alone (its own 1 s first segment) takes
// its place.
void LadderStage::publish_first_rendition() {
  JobContext& c = ctx_;
  FirstRendition& f = *c.first;
  Rendition& rung = c.rends.back();
  const bool encode_done = f.encode.done();
  if (f.fast.uploaded == 0 && encode_done && (!f.encode.ready() || f.broken)) return publish_rung_as_first();
  // Once ffmpeg exited 0, everything its playlist lists exists: all of it goes up now
  // (final), before any of the rung's segments is appended after it.
  if (!f.broken) {
    try {
      f.fast.publish(c.objects, encode_done && f.encode.ready(), [&] { c.tick(); });
    } catch (const StageError& e) {
      // Its output is unusable (no playlist, a listed segment missing): what is up
      // stays, the rest comes from the rung; never the job's failure.
      core::log::warn("media_first_encode_failed", {{"asset_id", c.asset_id}, {"detail", e.status.message}});
      f.broken = true;
    }
  }
  if (f.fast.uploaded == 0) {
    if (f.broken) publish_first_rendition();  // the fallback above
    return;
  }
  std::string text = f.playlist(rung, rung.name, c.cfg.segment_seconds, encode_done || f.broken);
  if (text != f.last_text) {
    c.objects.put_bytes(c.prefix + "first/index.m3u8", text);
    f.last_text = std::move(text);
  }
  if (c.playable_notified()) return;
  hls::Variant v = ladder_variants(c, false).back();
  v.uri = "first/index.m3u8";
  if (c.master.write_first(c.objects, c.prefix + "master.m3u8", hls::master_playlist({v}),
                           MasterSlot::Kind::first_rendition))
    core::log::info("media_first_rendition_ready",
                    {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}, {"rung", rung.name}});
  c.notify_playable();
}

// The poster the ladder's decode wrote (ladder_command: atomically, so a file that
// exists is whole), published as soon as it is there.
void LadderStage::publish_poster() {
  JobContext& c = ctx_;
  if (c.poster_done.load()) return;
  std::error_code ec;
  if (!fs::exists(c.poster_file, ec) || fs::file_size(c.poster_file, ec) == 0 || ec) return;
  // A failed upload is not the job's failure (a poster never was): the next tick tries
  // again, and the poster stage makes one of its own at the end if none got through.
  try {
    c.objects.put_file(c.prefix + "poster.jpg", c.poster_file.string());
  } catch (const std::exception& e) {
    core::log::warn("media_poster_failed", {{"asset_id", c.asset_id}, {"detail", std::string(e.what())}});
    return;
  }
  c.poster_done = true;
  core::log::info("media_poster_ready", {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}});
}

void LadderStage::publish_progress() {
  JobContext& c = ctx_;
  c.tick();
  publish_poster();
  if (c.remux.ready()) c.notify_playable();
  if (c.first) publish_first_rendition();
  for (auto& r : c.rends) r.publish(c.objects, false, [&] { c.tick(); });
  // The rung's new segments continue the first rendition's playlist.
  if (c.first) publish_first_rendition();
  else if (c.remux.done() && !c.remux.ready()) publish_rung_as_first();  // the remux failed
  if (c.hooks.on_progress) {
    // Segments per rung: one per keyframe (the short first ones, then the grid).
    double expected = double(std::max<size_t>(1, keyframe_times(c.cfg.segment_seconds, c.info.duration_s).size())) *
                      double(c.rends.size());
    size_t done = 0;
    for (const auto& r : c.rends) done += r.uploaded;
    c.hooks.on_progress(std::min(0.99, double(done) / expected));
  }
}

core::Status LadderStage::process() {
  JobContext& c = ctx_;
  core::Status publish_status;  // the first publishing failure; stops ffmpeg
  core::ProcessOptions opts;
  opts.timeout = c.cfg.process_timeout;
  opts.capture_stdout = false;
  opts.on_tick = [&] {
    if (c.abort.load()) return;
    try {
      publish_progress();
    } catch (const StageError& e) {
      publish_status = e.status;
      c.abort = true;
    } catch (const std::exception& e) {
      publish_status = publish_failed(c, e);
      c.abort = true;
    }
  };
  opts.should_cancel = [&] { return c.should_stop(); };

  // The storyboard's sheets come out of the same decode (StoryboardStage publishes them).
  std::error_code ec;
  const bool sheets = c.storyboard.tiles > 0 && fs::create_directories(c.storyboard_dir, ec) && !ec;
  // So do the storyboard's sheets and the poster (the poster stage makes it with a run
  // of its own only if this one did not).
  auto argv =
      ladder_command(c.cfg.ffmpeg_path, c.source_file, c.info, c.ladder, c.ladder_dir.string(), c.cfg.segment_seconds,
                     sheets ? &c.storyboard : nullptr, c.storyboard_dir.string(), c.poster_file.string());
  core::ProcessResult pr;
  try {
    pr = c.runner.run(argv, opts);
  } catch (const std::exception& e) {
    // pipe/fork failed: the machine, not the input (out of processes or fds).
    c.abort = true;
    core::log::error("media_spawn_failed", {{"asset_id", c.asset_id}, {"detail", std::string(e.what())}});
    return errors::worker_failed("Could not start the transcoder.");
  }
  if (c.cancelled) return errors::cancelled();
  if (!publish_status.ok()) {
    core::log::error("media_publish_failed", {{"asset_id", c.asset_id}, {"detail", publish_status.message}});
    return publish_status;
  }
  if (pr.timed_out) return errors::transcode_failed("Transcoding timed out.");
  if (pr.exit_code != 0) {
    std::string line = ffmpeg_error_line(pr.err_tail, pr.exit_code);
    core::log::error("media_transcode_failed",
                     {{"asset_id", c.asset_id}, {"exit_code", pr.exit_code}, {"detail", line}});
    return errors::transcode_failed(line);
  }
  core::log::info("media_ladder_encoded", {{"asset_id", c.asset_id}, {"ms", c.ms_since_start()}});
  return {};
}

core::Status LadderStage::flush() {
  JobContext& c = ctx_;
  try {
    if (c.hooks.should_cancel && c.hooks.should_cancel()) return errors::cancelled();
    if (c.remux.ready()) c.notify_playable();
    for (auto& r : c.rends) {
      r.publish(c.objects, true, [&] { c.tick(); });
      if (!r.ended || r.uploaded == 0) return errors::transcode_failed("The " + r.name + " rendition is incomplete.");
    }
    // The first encode has ended (the opener's flush joined it): its playlist's end.
    if (c.first) publish_first_rendition();
    publish_poster();
  } catch (const StageError& e) {
    return e.status;
  } catch (const std::exception& e) {
    return publish_failed(c, e);
  }
  return {};
}

// ---------------------------------------------------------------- master

core::Status MasterStage::flush() {
  JobContext& c = ctx_;
  try {
    auto variants = ladder_variants(c, true);
    for (size_t i = 0; i < c.tiers.size(); ++i) c.tiers[i].bandwidth = variants[i].bandwidth;
    c.master.write_final(c.objects, c.prefix + "master.m3u8", hls::master_playlist(variants));
  } catch (const std::exception& e) {
    return publish_failed(c, e);
  }
  return {};
}

// ---------------------------------------------------------------- poster

bool PosterStage::make_poster(double at_s) {
  JobContext& c = ctx_;
  int w, h;
  poster_size(c.info, w, h);
  char ss[32];
  std::snprintf(ss, sizeof ss, "%.3f", at_s);
  core::ProcessOptions po;
  po.timeout = std::min<std::chrono::milliseconds>(c.cfg.process_timeout, std::chrono::minutes(2));
  po.capture_stdout = false;
  po.should_cancel = [&] { return c.abort.load(); };
  std::vector<std::string> argv = {c.cfg.ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel",
                                   "error",           "-y",           "-ss",      ss};
  auto in = input_args(c.info.demuxer, c.source_file);
  argv.insert(argv.end(), in.begin(), in.end());
  argv.insert(argv.end(), {"-map", "0:V:0", "-frames:v", "1", "-vf",
                           "scale=" + std::to_string(w) + ":" + std::to_string(h) + ",setsar=1", "-q:v", "3", "-f",
                           "image2", "-update", "1", "-protocol_whitelist", "file", c.poster_file.string()});
  auto r = c.runner.run(argv, po);
  std::error_code ec;
  if (r.exit_code != 0 || !fs::exists(c.poster_file, ec) || fs::file_size(c.poster_file, ec) == 0) return false;
  c.objects.put_file(c.prefix + "poster.jpg", c.poster_file.string());
  return true;
}

void PosterStage::poster_with_fallback() {
  bool ok = make_poster(poster_seconds(ctx_.info)) || (!ctx_.abort.load() && make_poster(0));
  if (ok) ctx_.poster_done = true;
  else if (!ctx_.abort.load()) core::log::warn("media_poster_failed", {{"asset_id", ctx_.asset_id}});
}

// Only when the ladder's decode made no poster (ladder_command): a seek and decode of
// its own, as before it was a branch of the ladder (0.2-0.35 CPU-s for 1080p).
core::Status PosterStage::flush() {
  try {
    if (!ctx_.poster_done.load()) poster_with_fallback();
  } catch (const std::exception& e) {
    return publish_failed(ctx_, e);
  }
  return {};
}

// ---------------------------------------------------------------- storyboard

// The ladder's ffmpeg wrote the sheets (ladder_command); publish them, then the VTT.
// Never fails the job: every failure is logged and leaves no storyboard.vtt.
core::Status StoryboardStage::flush() {
  JobContext& c = ctx_;
  const StoryboardPlan& plan = c.storyboard;
  auto failed = [&](const std::string& detail) {
    core::log::warn("media_storyboard_failed", {{"asset_id", c.asset_id}, {"detail", detail}});
    return core::Status{};
  };
  if (plan.tiles == 0) return failed("no duration or picture size");
  try {
    int sheets = 0;
    std::error_code ec;
    while (sheets < plan.sheets()) {
      fs::path f = c.storyboard_dir / storyboard_sheet_name(sheets);
      if (!fs::exists(f, ec) || fs::file_size(f, ec) == 0) break;
      ++sheets;
    }
    if (sheets == 0) return failed("ffmpeg made no sheet");
    // Sheets first: a published VTT never points at a missing sheet.
    for (int i = 0; i < sheets; ++i)
      c.objects.put_file(c.prefix + "storyboard/" + storyboard_sheet_name(i),
                         (c.storyboard_dir / storyboard_sheet_name(i)).string());
    c.objects.put_bytes(c.prefix + "storyboard.vtt", storyboard_vtt(plan, sheets, c.info.duration_s));
    core::log::info("media_storyboard_ready", {{"asset_id", c.asset_id},
                                               {"ms", c.ms_since_start()},
                                               {"tiles", plan.tiles},
                                               {"sheets", sheets},
                                               {"interval_ms", plan.interval_ms}});
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  return {};
}

}  // namespace rend::media::stages
