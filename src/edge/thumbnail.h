#pragma once
// /v/{asset}/thumbnail.jpg?time=T&width=W at the edge: one frame at T seconds (default
// the poster's time), scaled to one of kThumbnailWidths, cut from the HLS segment
// that holds T.
//
// The Thumbnailer is the disk cache's origin for derived keys
// (assets/{asset}/thumb/{T in tenths of a second}/{W}/thumbnail.jpg: four path
// segments below the asset, which no /v/ path can name), so a thumbnail is cached,
// evicted and purged like any artifact, and concurrent requests for one key share one
// fill, hence one ffmpeg run. Making one reads the master and the chosen rung's media
// playlist and then the segment through the same cache (hits after the first time),
// and runs ffmpeg on a local copy of the segment:
//   - pinned like the worker's runs: file protocol only, the mpegts demuxer forced,
//     file protocol on the output;
//   - bounded: at most `max_concurrent` ffmpeg at once on this edge, at most
//     `max_waiting` renders waiting for a turn (beyond, or after `queue_wait`, the
//     render fails: 503 and the viewer retries), each killed after `timeout`.
// The rung: the smallest one at least W wide (the least decoding without upscaling),
// else the widest. Only a finished rung (#EXT-X-ENDLIST) is used, so T is checked
// against the whole duration, and never the fast path's src/ (the upload's own
// bitstream: the edge decodes only what the worker's encoder made).
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/process.h"
#include "edge/cache.h"
#include "edge/thumbnail_parse.h"
#include "hls/playlist.h"
#include "store/objects.h"

namespace rend::edge {

struct ThumbnailerOptions {
  std::string ffmpeg_path = "ffmpeg";
  std::string work_dir;  // each render in its own mkdtemp directory below
  int max_concurrent = 2;
  // Renders waiting for a turn, each holding its viewers' handler threads: beyond
  // this a new one is refused at once (503) rather than queued.
  int max_waiting = 8;
  std::chrono::milliseconds timeout{15000};
  std::chrono::milliseconds queue_wait{3000};
  std::optional<int64_t> playlist_max_age_ms;  // as the edge serves playlists
};

class Thumbnailer final : public store::ObjectStore {
 public:
  // `cache`, `origin` and `runner` must outlive it.
  Thumbnailer(ThumbnailerOptions opts, DiskCache& cache, store::ObjectStore& origin, core::ProcessRunner& runner);
  // Kills running ffmpegs and waits for every get() in progress (they run on the
  // cache's fill threads, which may outlive this object otherwise).
  ~Thumbnailer() override;

  // The cache key for (asset, time, width) after checking the time against the
  // finished rung: 400 past the end, 404 no such asset, 409 still transcoding.
  // May block (reads playlists through the cache).
  std::variant<std::string, ThumbnailError> resolve(const std::string& asset_id, std::optional<int64_t> time_ds,
                                                    int width);

  // As the cache's origin: renders the thumbnail a key names. nullptr when the
  // asset, its playlists or the segment do not exist; throws when it cannot be made.
  std::unique_ptr<store::ObjectReader> get(const std::string& key) override;

  struct Stats {
    uint64_t renders_total = 0;          // ffmpeg runs
    uint64_t render_failures_total = 0;  // runs that made no picture (error, timeout)
    uint64_t busy_total = 0;             // renders refused: max_waiting reached, or no turn within queue_wait
    uint64_t waiting = 0;                // renders waiting for a turn now
  };
  Stats stats() const;

  // Not an object store for anything else.
  std::unique_ptr<store::ObjectWriter> begin_put(const std::string&) override;
  void put_bytes(const std::string&, std::string_view) override;
  void put_file(const std::string&, const std::string&) override;
  std::optional<store::ObjectInfo> head(const std::string&) override { return std::nullopt; }
  bool get_to_file(const std::string&, const std::string&) override { return false; }
  std::vector<std::string> list(const std::string&) override { return {}; }
  size_t delete_prefix(const std::string&) override { return 0; }
  store::HealthStatus health() override { return {true, ""}; }
  store::ObjectStoreCapabilities capabilities() override { return {}; }

 private:
  struct Located {
    std::string segment_key;
    double offset_s = 0;
  };
  std::variant<Located, ThumbnailError> locate(const std::string& asset_id, std::optional<int64_t>& time_ds, int width);
  // The whole object through the cache; nullopt when the origin does not have it.
  std::optional<std::string> read(const std::string& key, std::optional<int64_t> max_age_ms);

  ThumbnailerOptions opts_;
  DiskCache& cache_;
  store::ObjectStore& origin_;
  core::ProcessRunner& runner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;  // ffmpeg slots taken
  int active_ = 0;   // get() calls in progress
  bool stopping_ = false;
  Stats stats_;
};

}  // namespace rend::edge
