#include "edge/thumbnail.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/ids.h"
#include "core/log.h"
#include "playback/paths.h"

namespace rend::edge {
namespace fs = std::filesystem;

namespace {

// Reads a whole object a Fill is streaming.
std::string read_fill(Fill& fill) {
  std::string out(fill.size(), '\0');
  for (uint64_t off = 0; off < out.size();) {
    uint64_t n = fill.wait_readable(off);
    if (n == 0) throw std::runtime_error("fill ended early");
    off += fill.read_at(out.data() + off, size_t(std::min<uint64_t>(n, out.size() - off)), off);
  }
  return out;
}

class StringReader final : public store::ObjectReader {
 public:
  explicit StringReader(std::string s) : s_(std::move(s)) {}
  size_t read(char* buf, size_t n) override {
    size_t k = std::min(n, s_.size() - off_);
    std::memcpy(buf, s_.data() + off_, k);
    off_ += k;
    return k;
  }
  uint64_t size() const override { return s_.size(); }

 private:
  std::string s_;
  size_t off_ = 0;
};

// mkdtemp under `parent`, removed with its contents when destroyed.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent) {
    fs::create_directories(parent);
    std::string tmpl = (fs::path(parent) / "thumb-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

ThumbnailError error(int status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

}  // namespace

// ---------------------------------------------------------------- Thumbnailer

Thumbnailer::Thumbnailer(ThumbnailerOptions opts, DiskCache& cache, store::ObjectStore& origin,
                         core::ProcessRunner& runner)
    : opts_(std::move(opts)), cache_(cache), origin_(origin), runner_(runner) {
  if (opts_.max_concurrent < 1) opts_.max_concurrent = 1;
  if (opts_.max_waiting < 0) opts_.max_waiting = 0;
}

Thumbnailer::~Thumbnailer() {
  {
    std::unique_lock lk(mu_);
    stopping_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return active_ == 0; });
  }
  // A fill thread the cache started for a thumbnail key may not have called get()
  // yet; the cache (which joins its fills) may be destroyed after this object. Wait
  // for the fills in flight, bounded: at shutdown no viewer starts new ones.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (cache_.stats().in_flight_fills > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

Thumbnailer::Stats Thumbnailer::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

std::unique_ptr<store::ObjectWriter> Thumbnailer::begin_put(const std::string&) {
  throw std::logic_error("thumbnails are read-only");
}
void Thumbnailer::put_bytes(const std::string&, std::string_view) {
  throw std::logic_error("thumbnails are read-only");
}
void Thumbnailer::put_file(const std::string&, const std::string&) {
  throw std::logic_error("thumbnails are read-only");
}

std::optional<std::string> Thumbnailer::read(const std::string& key, std::optional<int64_t> max_age_ms) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (auto hit = cache_.lookup(key, max_age_ms)) {
      if (hit->body) return *hit->body;
      std::ifstream in(hit->file, std::ios::binary);
      if (in) {
        std::ostringstream ss;
        ss << in.rdbuf();
        std::string s = ss.str();
        if (s.size() == hit->size) return s;
      }
      cache_.forget(key);  // evicted meanwhile
    }
    auto miss = cache_.fetch(key, origin_, max_age_ms);
    switch (miss.status) {
      case FillStatus::filled: return read_fill(*miss.fill);
      case FillStatus::cached: continue;
      case FillStatus::not_found: return std::nullopt;
      default: throw std::runtime_error("fetching " + key + " failed");
    }
  }
  throw std::runtime_error("cache entry churned: " + key);
}

std::variant<Thumbnailer::Located, ThumbnailError> Thumbnailer::locate(const std::string& asset_id,
                                                                       std::optional<int64_t>& time_ds, int width) {
  const std::string prefix = "assets/" + asset_id + "/";
  auto master = read(prefix + "master.m3u8", opts_.playlist_max_age_ms);
  if (!master) return error(404, "not_found", "no such video");
  auto variants = parse_master_variants(*master);
  auto chosen = choose_variant(variants, width);
  // Only names the allowlist accepts reach the cache or the origin.
  if (!chosen || !playback::parse_playback_target("/v/" + asset_id + "/" + variants[*chosen].uri))
    return error(404, "not_found", "the video has no rendition to take a thumbnail from");
  const std::string& uri = variants[*chosen].uri;
  // The fast path's src/ rendition is the upload's own bitstream, only remuxed: the
  // edge decodes nothing but what the worker's encoder made (the ladder), so a
  // crafted upload never reaches a decoder on the serving hosts.
  if (uri.starts_with("src/"))
    return error(409, "not_ready", "the video is still being processed; retry once it is ready");
  auto text = read(prefix + uri, opts_.playlist_max_age_ms);
  if (!text) return error(404, "not_found", "the video has no rendition to take a thumbnail from");
  auto pl = hls::parse_media_playlist(*text);
  if (!pl.ended) return error(409, "not_ready", "the video is still being processed; retry once it is ready");
  double duration = 0;
  for (double d : pl.durations) duration += d;
  if (!time_ds) time_ds = default_thumbnail_time_ds(duration);
  auto seg = segment_at(pl, double(*time_ds) / 10);
  if (!seg) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "time must be less than the video's duration (%.3f s)", duration);
    return error(400, "invalid_time", msg);
  }
  std::string dir = uri.substr(0, uri.rfind('/') + 1);
  std::string seg_path = dir + pl.segment_uris[seg->index];
  auto ref = playback::parse_playback_target("/v/" + asset_id + "/" + seg_path);
  if (!ref || !seg_path.ends_with(".ts"))
    return error(404, "not_found", "the video's segments cannot be read for a thumbnail");
  // Never past the segment's last frame (EXTINF is rounded).
  double offset = std::clamp(double(*time_ds) / 10 - seg->start_s, 0.0, std::max(0.0, seg->duration_s - 0.05));
  return Located{playback::object_key_for(*ref), offset};
}

std::variant<std::string, ThumbnailError> Thumbnailer::resolve(const std::string& asset_id,
                                                               std::optional<int64_t> time_ds, int width) {
  try {
    auto loc = locate(asset_id, time_ds, width);
    if (auto* e = std::get_if<ThumbnailError>(&loc)) return *e;
  } catch (const std::exception& e) {
    core::log::warn("edge_thumbnail_failed", {{"asset_id", asset_id}, {"error", std::string(e.what())}});
    return error(502, "origin_error", "origin fetch failed");
  }
  return thumbnail_key(asset_id, *time_ds, width);
}

std::unique_ptr<store::ObjectReader> Thumbnailer::get(const std::string& key) {
  auto k = parse_thumbnail_key(key);
  if (!k) return nullptr;
  {
    std::lock_guard lk(mu_);
    if (stopping_) throw std::runtime_error("edge stopping");
    active_++;
  }
  struct Done {
    Thumbnailer& t;
    ~Done() {
      std::lock_guard lk(t.mu_);
      t.active_--;
      t.cv_.notify_all();
    }
  } done{*this};

  std::optional<int64_t> t = k->time_ds;
  auto loc = locate(k->asset_id, t, k->width);
  if (auto* e = std::get_if<ThumbnailError>(&loc)) {
    if (e->status == 404 || e->status == 400) return nullptr;
    throw std::runtime_error(e->message);
  }
  const auto& where = std::get<Located>(loc);
  auto segment = read(where.segment_key, std::nullopt);
  if (!segment) return nullptr;

  ScratchDir scratch(opts_.work_dir);
  const fs::path seg_file = scratch.path() / "segment.ts", out = scratch.path() / "thumbnail.jpg";
  {
    std::ofstream f(seg_file, std::ios::binary);
    f.write(segment->data(), std::streamsize(segment->size()));
    if (!f) throw std::runtime_error("writing the scratch segment failed");
  }

  // A turn among max_concurrent: the one bound on this edge's CPU spent on thumbnails.
  {
    std::unique_lock lk(mu_);
    auto free_turn = [&] { return stopping_ || running_ < opts_.max_concurrent; };
    if (!free_turn() && int(stats_.waiting) >= opts_.max_waiting) {
      stats_.busy_total++;
      throw std::runtime_error("too many thumbnails waiting");
    }
    stats_.waiting++;
    bool got = cv_.wait_for(lk, opts_.queue_wait, free_turn);
    stats_.waiting--;
    if (!got) {
      stats_.busy_total++;
      throw std::runtime_error("no thumbnail slot free");
    }
    if (stopping_) throw std::runtime_error("edge stopping");
    running_++;
    stats_.renders_total++;
  }
  core::ProcessOptions po;
  po.timeout = opts_.timeout;
  po.capture_stdout = false;
  po.should_cancel = [this] {
    std::lock_guard lk(mu_);
    return stopping_;
  };
  auto started = std::chrono::steady_clock::now();
  core::ProcessResult r;
  try {
    r = runner_.run(thumbnail_command(opts_.ffmpeg_path, seg_file.string(), where.offset_s, k->width, out.string()),
                    po);
  } catch (...) {
    std::lock_guard lk(mu_);
    running_--;
    stats_.render_failures_total++;
    cv_.notify_all();
    throw;
  }
  std::string picture;
  {
    std::ifstream in(out, std::ios::binary);
    if (in) picture.assign(std::istreambuf_iterator<char>(in), {});
  }
  bool ok = r.exit_code == 0 && !r.timed_out && !picture.empty();
  {
    std::lock_guard lk(mu_);
    running_--;
    if (!ok) stats_.render_failures_total++;
    cv_.notify_all();
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!ok) {
    core::log::warn("edge_thumbnail_failed", {{"asset_id", k->asset_id},
                                              {"time_ds", k->time_ds},
                                              {"width", k->width},
                                              {"exit_code", r.exit_code},
                                              {"timed_out", r.timed_out}});
    throw std::runtime_error("ffmpeg made no thumbnail");
  }
  core::log::info("edge_thumbnail_rendered", {{"asset_id", k->asset_id},
                                              {"time_ds", k->time_ds},
                                              {"width", k->width},
                                              {"bytes", uint64_t(picture.size())},
                                              {"ms", int64_t(ms)}});
  return std::make_unique<StringReader>(std::move(picture));
}

}  // namespace rend::edge
