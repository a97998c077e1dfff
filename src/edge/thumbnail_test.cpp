// Thumbnails: the query parser, the rung and segment choice, the derived cache key,
// and the Thumbnailer as the cache's origin (one ffmpeg run per key however many
// viewers ask at once, a bounded number of runs, pinned ffmpeg arguments). ffmpeg is
// the scripted runner here; tests/integration/test_storyboard.py runs the real one.
#include "edge/thumbnail.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/testing/scripted_runner.h"
#include "playback/paths.h"
#include "store/fs/object_store.h"

namespace fs = std::filesystem;
using namespace rend;
using namespace std::chrono_literals;

namespace {

edge::ThumbnailQuery ok_query(const std::optional<std::string>& t, const std::optional<std::string>& w) {
  auto r = edge::parse_thumbnail_query(t, w);
  if (auto* e = std::get_if<edge::ThumbnailError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<edge::ThumbnailQuery>(r) ? std::get<edge::ThumbnailQuery>(r) : edge::ThumbnailQuery{};
}

std::string error_code(const std::optional<std::string>& t, const std::optional<std::string>& w) {
  auto r = edge::parse_thumbnail_query(t, w);
  auto* e = std::get_if<edge::ThumbnailError>(&r);
  if (!e) return "accepted";
  EXPECT_EQ(e->status, 400);
  return e->code;
}

TEST(ThumbnailQuery, DecimalSecondsAndFixedWidths) {
  EXPECT_EQ(*ok_query("12.5", "640").time_ds, 125);
  EXPECT_EQ(ok_query("12.5", "640").width, 640);
  EXPECT_EQ(*ok_query("0", std::nullopt).time_ds, 0);
  EXPECT_EQ(*ok_query("7.39", "160").time_ds, 73);  // tenths, rounded down
  EXPECT_FALSE(ok_query(std::nullopt, std::nullopt).time_ds.has_value());
  EXPECT_EQ(ok_query(std::nullopt, std::nullopt).width, 320);
  for (const char* bad : {"", "-1", "+1", "1e3", "nan", "inf", "1.", ".5", "0x10", "1,5", "12.5s", "9999999", " 1"})
    EXPECT_EQ(error_code(bad, "320"), "invalid_time") << bad;
  for (const char* bad : {"", "100", "321", "0", "-320", "320.0", "1280px", "12800"})
    EXPECT_EQ(error_code("1", bad), "invalid_width") << bad;
}

TEST(ThumbnailQuery, DefaultTimeIsThePostersTime) {
  EXPECT_EQ(edge::default_thumbnail_time_ds(60), 10);
  EXPECT_EQ(edge::default_thumbnail_time_ds(2), 10);
  EXPECT_EQ(edge::default_thumbnail_time_ds(1.5), 7);
}

const char* kMaster =
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\n720p/index.m3u8\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=1900000,RESOLUTION=960x540,CODECS=\"avc1.64001f,mp4a.40.2\"\n540p/index.m3u8\n"
    "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\n360p/index.m3u8\n";

TEST(ThumbnailRung, SmallestRungAtLeastAsWideElseTheWidest) {
  auto v = edge::parse_master_variants(kMaster);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2].uri, "360p/index.m3u8");
  EXPECT_EQ(v[2].width, 640);
  EXPECT_EQ(v[2].height, 360);
  EXPECT_EQ(*edge::choose_variant(v, 160), 2u);
  EXPECT_EQ(*edge::choose_variant(v, 640), 2u);
  EXPECT_EQ(*edge::choose_variant(v, 960), 1u);
  EXPECT_EQ(*edge::choose_variant(v, 1280), 0u);
  EXPECT_EQ(*edge::choose_variant(v, 1920), 0u);
  EXPECT_FALSE(edge::choose_variant({}, 320).has_value());
  auto one = edge::parse_master_variants("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\nsrc/index.m3u8\r\n");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].uri, "src/index.m3u8");
  EXPECT_EQ(*edge::choose_variant(one, 320), 0u);
}

TEST(ThumbnailRung, SegmentHoldingT) {
  hls::MediaPlaylistInfo pl;
  pl.segment_uris = {"seg_00000.ts", "seg_00001.ts", "seg_00002.ts"};
  pl.durations = {4, 4, 2.5};
  EXPECT_EQ(edge::segment_at(pl, 0)->index, 0u);
  EXPECT_EQ(edge::segment_at(pl, 3.99)->index, 0u);
  auto s = edge::segment_at(pl, 4.0);
  EXPECT_EQ(s->index, 1u);
  EXPECT_DOUBLE_EQ(s->start_s, 4.0);
  EXPECT_EQ(edge::segment_at(pl, 10.4)->index, 2u);
  EXPECT_FALSE(edge::segment_at(pl, 10.5).has_value());
  EXPECT_FALSE(edge::segment_at(pl, -1).has_value());
}

TEST(ThumbnailKey, RoundTripsAndNoPlaybackPathNamesIt) {
  std::string asset = "ast_abcdefghijklmnopqrstuvwxyz";
  auto key = edge::thumbnail_key(asset, 125, 640);
  EXPECT_EQ(key, "assets/" + asset + "/thumb/125/640/thumbnail.jpg");
  auto back = edge::parse_thumbnail_key(key);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->asset_id, asset);
  EXPECT_EQ(back->time_ds, 125);
  EXPECT_EQ(back->width, 640);
  EXPECT_FALSE(edge::parse_thumbnail_key("assets/" + asset + "/thumb/125/641/thumbnail.jpg"));
  EXPECT_FALSE(edge::parse_thumbnail_key("assets/" + asset + "/360p/seg_00000.ts"));
  EXPECT_FALSE(edge::parse_thumbnail_key("assets/thumbnail.jpg")) << "both ends overlap (found by fuzz_thumbnail)";
  EXPECT_FALSE(edge::parse_thumbnail_key("assets/" + asset + "/thumb/x/640/thumbnail.jpg"));
  // A viewer cannot read or poison the derived key through /v/.
  EXPECT_FALSE(playback::parse_playback_target("/v/" + asset + "/thumb/125/640/thumbnail.jpg").has_value());
}

TEST(ThumbnailCommand, PinnedInputAndOutput) {
  auto a = edge::thumbnail_command("ffmpeg", "/w/seg.ts", 1.25, 640, "/w/thumbnail.jpg");
  std::string j;
  for (const auto& s : a) j += s + "\n";
  EXPECT_NE(j.find(
                "\n-protocol_whitelist\nfile\n-format_whitelist\nmpegts\n-f\nmpegts\n-i\nfile:/w/seg.ts\n-ss\n1.250\n"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\nscale=640:-2,setsar=1\n"), std::string::npos) << j;
  EXPECT_NE(j.find("\n-frames:v\n1\n"), std::string::npos) << j;
  EXPECT_TRUE(j.ends_with("\n-protocol_whitelist\nfile\n/w/thumbnail.jpg\n")) << j;
}

// ---------------------------------------------------------------- Thumbnailer

class ThumbnailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-thumb-test-" + std::to_string(rd()) + std::to_string(rd()));
    origin_ = std::make_unique<store::fs::FsObjectStore>(root_ / "origin");
    edge::CacheOptions o;
    o.dir = (root_ / "cache").string();
    o.min_free_bytes = 0;
    cache_ = std::make_unique<edge::DiskCache>(o, clock_);
    std::string a = "assets/" + asset_ + "/";
    origin_->put_bytes(a + "master.m3u8", kMaster);
    for (const char* rung : {"720p", "540p", "360p"}) {
      origin_->put_bytes(a + rung + "/index.m3u8",
                         "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:4.000000,\n"
                         "seg_00001.ts\n#EXTINF:2.000000,\nseg_00002.ts\n#EXT-X-ENDLIST\n");
      for (int i = 0; i < 3; ++i)
        origin_->put_bytes(a + rung + "/seg_0000" + std::to_string(i) + ".ts", std::string(1880, char('a' + i)) + rung);
    }
  }
  void TearDown() override {
    thumbs_.reset();
    cache_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  edge::Thumbnailer& thumbs(int max_concurrent = 2) {
    edge::ThumbnailerOptions o;
    o.work_dir = (root_ / "cache" / "tmp").string();
    o.max_concurrent = max_concurrent;
    o.queue_wait = 5s;
    thumbs_ = std::make_unique<edge::Thumbnailer>(o, *cache_, *origin_, runner_);
    return *thumbs_;
  }
  // The rendered picture through the cache, as the edge serves it.
  std::optional<std::string> render(const std::string& key) {
    auto m = cache_->fetch(key, *thumbs_);
    if (m.status == edge::FillStatus::cached) {
      auto hit = cache_->lookup(key);
      if (!hit) return std::nullopt;
      if (hit->body) return *hit->body;  // small objects are served from memory
      std::ifstream in(hit->file, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (m.status != edge::FillStatus::filled) return std::nullopt;
    std::string out(m.fill->size(), '\0');
    for (uint64_t off = 0; off < out.size();) {
      uint64_t n = m.fill->wait_readable(off);
      if (n == 0) break;
      off += m.fill->read_at(out.data() + off, size_t(std::min<uint64_t>(n, out.size() - off)), off);
    }
    // As the edge's FillSource: done once the fill has landed, so the next ask is a hit.
    m.fill->wait_readable(out.size());
    return out;
  }
  // ffmpeg as the scripted runner: writes "JPEG:<the segment's first byte>" after `delay`.
  void script_ffmpeg(std::chrono::milliseconds delay = 0ms) {
    runner_.on(core::testing::program("ffmpeg"),
               {.custom = [this, delay](const core::testing::Argv& argv, const core::ProcessOptions&) {
                 int now = ++running_now_;
                 int seen = max_running_.load();
                 while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
                 }
                 std::this_thread::sleep_for(delay);
                 std::string seg;
                 for (const auto& a : argv)
                   if (a.rfind("file:", 0) == 0) {
                     std::ifstream in(a.substr(5), std::ios::binary);
                     seg = std::string(std::istreambuf_iterator<char>(in), {});
                   }
                 core::testing::write_files(argv, {{"thumbnail.jpg", "JPEG:" + seg.substr(0, 1) + seg.substr(1880)}});
                 --running_now_;
                 return core::testing::Reply::exit_result(0);
               }});
  }

  std::string asset_ = "ast_abcdefghijklmnopqrstuvwxyz";
  fs::path root_;
  core::FakeClock clock_;
  std::unique_ptr<store::fs::FsObjectStore> origin_;
  std::unique_ptr<edge::DiskCache> cache_;
  core::testing::ScriptedRunner runner_;
  std::unique_ptr<edge::Thumbnailer> thumbs_;
  std::atomic<int> running_now_{0}, max_running_{0};
};

TEST_F(ThumbnailerTest, ResolveChecksTheTimeAgainstTheFinishedRung) {
  auto& t = thumbs();
  auto key = [&](std::optional<int64_t> ds, int w) {
    auto r = t.resolve(asset_, ds, w);
    if (auto* e = std::get_if<edge::ThumbnailError>(&r)) return std::to_string(e->status) + " " + e->code;
    return std::get<std::string>(r);
  };
  EXPECT_EQ(key(55, 320), edge::thumbnail_key(asset_, 55, 320));
  EXPECT_EQ(key(std::nullopt, 320), edge::thumbnail_key(asset_, 10, 320));
  EXPECT_EQ(key(99, 1280), edge::thumbnail_key(asset_, 99, 1280));
  EXPECT_EQ(key(100, 320), "400 invalid_time");  // the rungs are 10 s long
  auto missing = t.resolve("ast_abcdefghijklmnopqrstuvwxy2", 5, 320);
  EXPECT_EQ(std::get<edge::ThumbnailError>(missing).status, 404);
  // Still transcoding (an EVENT playlist without #EXT-X-ENDLIST): not yet.
  origin_->put_bytes("assets/" + asset_ + "/360p/index.m3u8", "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n");
  cache_->purge_asset(asset_);
  EXPECT_EQ(key(5, 320), "409 not_ready");
  // The fast path's master names only src/, the upload's own bitstream remuxed: the
  // edge decodes only what the worker's encoder made, so not before the ladder.
  origin_->put_bytes("assets/" + asset_ + "/master.m3u8",
                     "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360\nsrc/index.m3u8\n");
  origin_->put_bytes("assets/" + asset_ + "/src/index.m3u8", "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n");
  cache_->purge_asset(asset_);
  EXPECT_EQ(key(5, 320), "409 not_ready");
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 0);
}

TEST_F(ThumbnailerTest, FiftyConcurrentRequestsRunFfmpegOnceFromTheSegmentHoldingT) {
  script_ffmpeg(200ms);
  auto& t = thumbs();
  std::string key = std::get<std::string>(t.resolve(asset_, 55, 320));  // 5.5 s: 360p seg 1, 1.5 s in
  std::vector<std::thread> viewers;
  std::atomic<int> right{0};
  for (int i = 0; i < 50; ++i)
    viewers.emplace_back([&] {
      if (render(key) == "JPEG:b360p") right++;
    });
  for (auto& v : viewers) v.join();
  EXPECT_EQ(right.load(), 50);
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 1);
  EXPECT_EQ(t.stats().renders_total, 1u);
  auto argv = runner_.last_call(core::testing::program("ffmpeg"));
  std::string j;
  for (const auto& a : argv) j += a + "\n";
  EXPECT_NE(j.find("\n-ss\n1.500\n"), std::string::npos) << j;
  EXPECT_NE(j.find("\nscale=320:-2,setsar=1\n"), std::string::npos) << j;
  // Then a hit: no second run.
  EXPECT_EQ(render(key), "JPEG:b360p");
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 1);
  // The scratch copies are gone.
  for (const auto& e : fs::directory_iterator(root_ / "cache" / "tmp"))
    EXPECT_FALSE(e.path().filename().string().starts_with("thumb-")) << e.path();
}

TEST_F(ThumbnailerTest, AtMostMaxConcurrentRunsAtOnce) {
  script_ffmpeg(100ms);
  auto& t = thumbs(2);
  std::vector<std::thread> viewers;
  std::atomic<int> ok{0};
  for (int ds = 0; ds < 6; ++ds)
    viewers.emplace_back([&, ds] {
      auto key = std::get<std::string>(t.resolve(asset_, ds * 10, 640));
      if (render(key)) ok++;
    });
  for (auto& v : viewers) v.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 6);
  EXPECT_EQ(max_running_.load(), 2);
}

// Renders waiting for a turn hold the viewers' handler threads: beyond max_waiting
// another new thumbnail is refused at once (503 at the edge), not queued.
TEST_F(ThumbnailerTest, BeyondMaxWaitingANewRenderIsRefusedAtOnce) {
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  runner_.on(core::testing::program("ffmpeg"),
             {.custom = [&](const core::testing::Argv& argv, const core::ProcessOptions&) {
               running_now_++;
               std::unique_lock lk(gate_mu);
               gate_cv.wait(lk, [&] { return open; });
               core::testing::write_files(argv, {{"thumbnail.jpg", "JPEG"}});
               return core::testing::Reply::exit_result(0);
             }});
  edge::ThumbnailerOptions o;
  o.work_dir = (root_ / "cache" / "tmp").string();
  o.max_concurrent = 1;
  o.max_waiting = 1;
  o.queue_wait = 20s;
  thumbs_ = std::make_unique<edge::Thumbnailer>(o, *cache_, *origin_, runner_);
  auto key = [&](int64_t ds) { return std::get<std::string>(thumbs_->resolve(asset_, ds, 320)); };
  auto wait_for = [&](auto pred) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!pred() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return pred();
  };
  std::optional<std::string> a, b;
  std::thread ta([&] { a = render(key(0)); });
  ASSERT_TRUE(wait_for([&] { return running_now_.load() == 1; }));
  std::thread tb([&] { b = render(key(10)); });
  ASSERT_TRUE(wait_for([&] { return thumbs_->stats().waiting == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(render(key(20)).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "refused only after waiting";
  EXPECT_EQ(thumbs_->stats().busy_total, 1u);
  {
    std::lock_guard lk(gate_mu);
    open = true;
  }
  gate_cv.notify_all();
  ta.join();
  tb.join();
  EXPECT_EQ(a, "JPEG");
  EXPECT_EQ(b, "JPEG");
  EXPECT_EQ(thumbs_->stats().waiting, 0u);
}

TEST_F(ThumbnailerTest, AFailedRenderIsNotCached) {
  runner_.on(core::testing::program("ffmpeg"), core::testing::Reply::exits(1, "[mpegts @ 0x1] broken"));
  auto& t = thumbs();
  std::string key = std::get<std::string>(t.resolve(asset_, 20, 320));
  EXPECT_FALSE(render(key).has_value());
  EXPECT_FALSE(cache_->lookup(key).has_value());
  EXPECT_EQ(t.stats().render_failures_total, 1u);
  script_ffmpeg();
  EXPECT_EQ(render(key), "JPEG:a360p");
}

}  // namespace
