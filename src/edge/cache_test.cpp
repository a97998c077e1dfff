// DiskCache: coalesced streaming fills, failure handling, eviction order, purge,
// index rebuild. The origin is the real filesystem object store, wrapped where a
// test needs it to be slow, counted or broken mid-object.
#include "edge/cache.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.h"
#include "store/fs/object_store.h"

namespace fs = std::filesystem;
using namespace rend;
using namespace std::chrono_literals;

namespace {

// Wraps a real store: counts get() calls, and can hold reads back (a slow origin:
// the test decides how many chunks arrive), stop mid-object with an error, or block
// until released.
class ControlledOrigin final : public store::ObjectStore {
 public:
  explicit ControlledOrigin(store::ObjectStore& inner) : inner_(inner) {}
  std::atomic<int> gets{0};
  size_t chunk = 64 * 1024;
  int64_t fail_after_bytes = -1;  // throw once this many bytes were returned
  // While closed, get() waits: a test can gather its readers before the origin answers.
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_open = true;
  void open_gate() {
    std::lock_guard lk(gate_mu);
    gate_open = true;
    gate_cv.notify_all();
  }
  // Chunks read() may still return before it waits (-1: no limit).
  int64_t chunks_allowed = -1;
  void allow_chunks(int64_t n) {
    std::lock_guard lk(gate_mu);
    chunks_allowed = n;
    gate_cv.notify_all();
  }

  std::unique_ptr<store::ObjectWriter> begin_put(const std::string& k) override { return inner_.begin_put(k); }
  void put_bytes(const std::string& k, std::string_view d) override { inner_.put_bytes(k, d); }
  void put_file(const std::string& k, const std::string& p) override { inner_.put_file(k, p); }
  std::optional<store::ObjectInfo> head(const std::string& k) override { return inner_.head(k); }
  bool get_to_file(const std::string& k, const std::string& p) override { return inner_.get_to_file(k, p); }
  std::vector<std::string> list(const std::string& p) override { return inner_.list(p); }
  size_t delete_prefix(const std::string& p) override { return inner_.delete_prefix(p); }
  store::HealthStatus health() override { return inner_.health(); }
  store::ObjectStoreCapabilities capabilities() override { return inner_.capabilities(); }
  // Kernel thread ids that ran get(): which threads do the fills.
  std::mutex tids_mu;
  std::set<pid_t> tids;
  // Kernel thread ids that started an origin request (start_get), and how many did.
  std::set<pid_t> start_tids;
  std::atomic<int> starts{0};
  std::unique_ptr<store::PendingGet> start_get(const std::string& key) override {
    starts++;
    {
      std::lock_guard lk(tids_mu);
      start_tids.insert(::gettid());
    }
    return store::ObjectStore::start_get(key);  // finish() calls get(), below
  }
  std::unique_ptr<store::ObjectReader> get(const std::string& key) override {
    gets++;
    {
      std::lock_guard lk(tids_mu);
      tids.insert(::gettid());
    }
    {
      std::unique_lock lk(gate_mu);
      gate_cv.wait(lk, [&] { return gate_open; });
    }
    auto r = inner_.get(key);
    if (!r) return nullptr;
    return std::make_unique<Reader>(std::move(r), *this);
  }

 private:
  class Reader final : public store::ObjectReader {
   public:
    Reader(std::unique_ptr<store::ObjectReader> r, ControlledOrigin& o) : r_(std::move(r)), o_(o) {}
    size_t read(char* buf, size_t n) override {
      {
        std::unique_lock lk(o_.gate_mu);
        o_.gate_cv.wait(lk, [&] { return o_.chunks_allowed != 0; });
        if (o_.chunks_allowed > 0) --o_.chunks_allowed;
      }
      if (o_.fail_after_bytes >= 0 && int64_t(sent_) >= o_.fail_after_bytes) throw std::runtime_error("origin reset");
      size_t got = r_->read(buf, std::min(n, o_.chunk));
      sent_ += got;
      return got;
    }
    uint64_t size() const override { return r_->size(); }

   private:
    std::unique_ptr<store::ObjectReader> r_;
    ControlledOrigin& o_;
    uint64_t sent_ = 0;
  };
  store::ObjectStore& inner_;
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(seed + i * 7 % 251);
  return s;
}

// Reads a whole fill the way the edge's FillSource does.
std::string drain(const std::shared_ptr<edge::Fill>& fill) {
  std::string out;
  char buf[8192];
  for (uint64_t off = 0;;) {
    uint64_t n = fill->wait_readable(off);
    if (n == 0) break;
    size_t got = fill->read_at(buf, std::min<uint64_t>(n, sizeof buf), off);
    out.append(buf, got);
    off += got;
  }
  return out;
}

// Polls for what the cache's fill threads do on their own (landing a file); the
// assertion is on the condition, the deadline only bounds a broken run. Time, where a
// test depends on it, is the fixture's FakeClock.
template <class F>
bool eventually(F&& f) {
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return f();
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("rend-cache-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    inner_ = std::make_unique<store::fs::FsObjectStore>(root_ / "origin");
    origin_ = std::make_unique<ControlledOrigin>(*inner_);
  }
  void TearDown() override { fs::remove_all(root_); }
  edge::CacheOptions opts() {
    edge::CacheOptions o;
    o.dir = (root_ / "cache").string();
    o.min_free_bytes = 0;
    return o;
  }
  // The readable bytes at the start of a fill whose origin was allowed a chunk or two.
  // Bounded: when they do not come, the origin is let run so the test fails rather
  // than hangs.
  uint64_t first_bytes(const std::shared_ptr<edge::Fill>& fill) {
    auto f = std::async(std::launch::async, [&] { return fill->wait_readable(0); });
    if (f.wait_for(10s) != std::future_status::ready) origin_->allow_chunks(-1);
    return f.get();
  }

  core::FakeClock clock_;
  fs::path root_;
  std::unique_ptr<store::fs::FsObjectStore> inner_;
  std::unique_ptr<ControlledOrigin> origin_;
};

const std::string kSeg = "assets/ast_a/720p/seg_00005.ts";

TEST_F(CacheTest, FiftyConcurrentMissesMakeOneOriginRequestAndIdenticalBodies) {
  auto body = pattern(1 << 20, 'a');
  inner_->put_bytes(kSeg, body);
  // The origin holds its answer until all 50 misses joined the fill, so none of them
  // can arrive after it landed, however slowly threads start (TSan, a loaded CI).
  origin_->gate_open = false;
  edge::DiskCache cache(opts(), clock_);
  std::vector<std::string> got(50);
  std::vector<std::thread> ts;
  for (int i = 0; i < 50; ++i)
    ts.emplace_back([&, i] {
      auto m = cache.fetch(kSeg, *origin_);
      ASSERT_EQ(m.status, edge::FillStatus::filled);
      got[i] = drain(m.fill);
    });
  EXPECT_TRUE(eventually([&] { return cache.stats().coalesced_waiters_total >= 49; }));
  origin_->open_gate();
  for (auto& t : ts) t.join();
  EXPECT_EQ(origin_->gets.load(), 1);
  for (const auto& g : got) EXPECT_TRUE(g == body);
  auto st = cache.stats();
  EXPECT_EQ(st.origin_requests_total, 1u);
  EXPECT_EQ(st.coalesced_waiters_total, 49u);
  // Landed: the next lookup is a hit with the same bytes.
  EXPECT_TRUE(eventually([&] { return cache.lookup(kSeg).has_value(); }));
  auto hit = cache.lookup(kSeg);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->size, body.size());
}

TEST_F(CacheTest, ReadersGetFirstBytesBeforeTheFillEnds) {
  inner_->put_bytes(kSeg, pattern(512 * 1024, 'b'));
  origin_->chunk = 32 * 1024;
  origin_->allow_chunks(1);  // the origin sends one chunk, then stalls
  edge::DiskCache cache(opts(), clock_);
  auto m = cache.fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  EXPECT_EQ(first_bytes(m.fill), 32u * 1024) << "the first bytes must be readable while the fill is still running";
  EXPECT_FALSE(cache.lookup(kSeg)) << "not in the index before it is complete";
  origin_->allow_chunks(-1);
  EXPECT_EQ(drain(m.fill).size(), 512u * 1024);
}

TEST_F(CacheTest, OriginErrorMidFillFailsReadersAndCachesNothing) {
  inner_->put_bytes(kSeg, pattern(300 * 1024, 'c'));
  origin_->chunk = 64 * 1024;
  origin_->fail_after_bytes = 128 * 1024;
  edge::DiskCache cache(opts(), clock_);
  auto m = cache.fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  EXPECT_THROW(drain(m.fill), std::runtime_error);
  EXPECT_FALSE(cache.lookup(kSeg));
  EXPECT_TRUE(fs::is_empty(root_ / "cache" / "tmp")) << "the temp file of a failed fill is removed";
  EXPECT_EQ(cache.stats().fill_failures_total, 1u);
  // The next viewer gets a fresh fill that works.
  origin_->fail_after_bytes = -1;
  EXPECT_EQ(cache.fill_and_wait(kSeg, *origin_), edge::FillStatus::filled);
  EXPECT_TRUE(cache.lookup(kSeg));
}

TEST_F(CacheTest, AReaderLeavingDoesNotCancelTheFill) {
  inner_->put_bytes(kSeg, pattern(256 * 1024, 'd'));
  origin_->allow_chunks(1);
  edge::DiskCache cache(opts(), clock_);
  {
    auto m = cache.fetch(kSeg, *origin_);
    ASSERT_EQ(m.status, edge::FillStatus::filled);
    EXPECT_GT(first_bytes(m.fill), 0u);
  }  // the only viewer went away mid-fill
  origin_->allow_chunks(-1);
  EXPECT_TRUE(eventually([&] { return cache.lookup(kSeg).has_value(); }));
  EXPECT_EQ(origin_->gets.load(), 1);
}

TEST_F(CacheTest, NotFoundAndTooLarge) {
  inner_->put_bytes(kSeg, pattern(2048, 'e'));
  auto o = opts();
  o.max_object_bytes = 1024;
  edge::DiskCache cache(o, clock_);
  EXPECT_EQ(cache.fetch("assets/ast_a/720p/nope.ts", *origin_).status, edge::FillStatus::not_found);
  EXPECT_EQ(cache.fetch(kSeg, *origin_).status, edge::FillStatus::too_large);
  EXPECT_FALSE(cache.lookup(kSeg));
}

TEST_F(CacheTest, FillSlotsAreBoundedAndExcessIsRefusedAfterWaiting) {
  inner_->put_bytes("assets/ast_a/720p/seg_00010.ts", pattern(256 * 1024, 'f'));
  inner_->put_bytes("assets/ast_a/720p/seg_00011.ts", pattern(1024, 'g'));
  origin_->chunk = 16 * 1024;
  origin_->allow_chunks(0);  // the first fill holds its slot until the test lets it read
  auto o = opts();
  o.max_in_flight_fills = 1;
  o.fill_queue_wait = 200ms;
  edge::DiskCache cache(o, clock_);
  auto first = cache.fetch("assets/ast_a/720p/seg_00010.ts", *origin_);
  ASSERT_EQ(first.status, edge::FillStatus::filled);
  auto second =
      std::async(std::launch::async, [&] { return cache.fetch("assets/ast_a/720p/seg_00011.ts", *origin_).status; });
  EXPECT_TRUE(clock_.await_timed_waiters(1));  // waiting for a slot, up to fill_queue_wait
  clock_.advance(199ms);
  EXPECT_TRUE(clock_.await_timed_waiters(1));
  EXPECT_EQ(second.wait_for(0s), std::future_status::timeout) << "refused before fill_queue_wait";
  clock_.advance(1ms);
  if (second.wait_for(10s) != std::future_status::ready) origin_->allow_chunks(-1);  // free the slot: end, not hang
  EXPECT_EQ(second.get(), edge::FillStatus::busy);
  EXPECT_EQ(cache.stats().busy_total, 1u);
  // Joining the running fill needs no slot.
  EXPECT_EQ(cache.fetch("assets/ast_a/720p/seg_00010.ts", *origin_).status, edge::FillStatus::filled);
  origin_->allow_chunks(-1);
  EXPECT_EQ(drain(first.fill).size(), 256u * 1024);
}

TEST_F(CacheTest, AMissWaitingForASlotGetsOneWhenAFillEnds) {
  inner_->put_bytes("assets/ast_a/720p/seg_00010.ts", pattern(64 * 1024, 'f'));
  inner_->put_bytes("assets/ast_a/720p/seg_00011.ts", pattern(1024, 'g'));
  origin_->chunk = 16 * 1024;
  origin_->allow_chunks(0);
  auto o = opts();
  o.max_in_flight_fills = 1;
  o.fill_queue_wait = 200ms;
  edge::DiskCache cache(o, clock_);
  auto first = cache.fetch("assets/ast_a/720p/seg_00010.ts", *origin_);
  ASSERT_EQ(first.status, edge::FillStatus::filled);
  auto second =
      std::async(std::launch::async, [&] { return cache.fetch("assets/ast_a/720p/seg_00011.ts", *origin_).status; });
  EXPECT_TRUE(clock_.await_timed_waiters(1));
  origin_->allow_chunks(-1);  // the first fill ends (no time passes): its slot goes to the waiting miss
  ASSERT_EQ(second.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(second.get(), edge::FillStatus::filled);
  EXPECT_EQ(cache.stats().busy_total, 0u);
  drain(first.fill);
}

size_t threads_of_this_process() {
  return size_t(std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator()));
}

// Fills run on workers started once, never a thread per fill: twelve misses through
// two fill slots are all served (those beyond the slots wait for one) by at most two
// threads, the same ones whatever the number of fills. Up to 64 workers start with the
// cache; a larger REND_EDGE_MAX_IN_FLIGHT_FILLS costs no more threads until fills run.
TEST_F(CacheTest, FillsRunOnWorkersStartedOnceAndExcessMissesQueueAndComplete) {
  {
    auto big = opts();
    big.max_in_flight_fills = 5000;
    const size_t before = threads_of_this_process();
    edge::DiskCache idle(big, clock_);
    EXPECT_EQ(threads_of_this_process(), before + 64);
  }
  constexpr int kFills = 12;
  for (int i = 0; i < kFills; ++i)
    inner_->put_bytes("assets/ast_a/720p/seg_" + std::to_string(10 + i) + ".ts", pattern(20000 + i, char('a' + i)));
  origin_->chunk = 4096;
  origin_->gate_open = false;  // the first two fills wait in the origin, holding both slots
  auto o = opts();
  o.max_in_flight_fills = 2;
  o.fill_queue_wait = 200ms;
  edge::DiskCache cache(o, clock_);
  std::vector<std::future<std::string>> viewers;
  for (int i = 0; i < kFills; ++i)
    viewers.push_back(std::async(std::launch::async, [&, i] {
      auto m = cache.fetch("assets/ast_a/720p/seg_" + std::to_string(10 + i) + ".ts", *origin_);
      return m.status == edge::FillStatus::filled ? drain(m.fill) : std::string("status ") + char('0' + int(m.status));
    }));
  EXPECT_TRUE(eventually([&] { return origin_->gets.load() == 2; }));
  EXPECT_TRUE(clock_.await_timed_waiters(kFills - 2));  // the rest wait for a slot
  origin_->open_gate();                                 // no time passes: every queued miss gets a slot as fills end
  for (int i = 0; i < kFills; ++i) {
    ASSERT_EQ(viewers[i].wait_for(10s), std::future_status::ready) << i;
    EXPECT_EQ(viewers[i].get(), pattern(20000 + i, char('a' + i))) << i;
  }
  EXPECT_EQ(origin_->gets.load(), kFills);
  EXPECT_EQ(cache.stats().busy_total, 0u);
  std::lock_guard lk(origin_->tids_mu);
  EXPECT_LE(origin_->tids.size(), 2u) << "a thread per fill";
}

// The origin request of a fill is started by the thread that missed (an edge I/O
// thread: S3's start_get sends it there without waiting), before the hop to a fill
// worker; the worker waits for the answer and streams it. Once per fill, coalesced.
TEST_F(CacheTest, TheOriginRequestStartsOnTheMissingThreadAndAWorkerFinishesIt) {
  inner_->put_bytes(kSeg, pattern(100000, 'q'));
  edge::DiskCache cache(opts(), clock_);
  std::vector<std::shared_ptr<edge::Fill>> fills;
  for (int i = 0; i < 5; ++i) {
    auto m = cache.start_fetch(kSeg, *origin_);
    ASSERT_EQ(m.status, edge::FillStatus::filled);
    fills.push_back(m.fill);
  }
  EXPECT_EQ(drain(fills[0]), pattern(100000, 'q'));
  EXPECT_EQ(origin_->starts.load(), 1);
  EXPECT_EQ(origin_->gets.load(), 1);
  std::lock_guard lk(origin_->tids_mu);
  EXPECT_EQ(origin_->start_tids, std::set<pid_t>{::gettid()}) << "started where the miss happened";
  ASSERT_EQ(origin_->tids.size(), 1u);
  EXPECT_NE(*origin_->tids.begin(), ::gettid()) << "finished on a fill worker";
}

TEST_F(CacheTest, HeadClassifiesPlaylistsAndFirstSegments) {
  EXPECT_TRUE(edge::DiskCache::is_head("assets/a/master.m3u8"));
  EXPECT_TRUE(edge::DiskCache::is_head("assets/a/720p/index.m3u8"));
  EXPECT_TRUE(edge::DiskCache::is_head("assets/a/720p/seg_00000.ts"));
  EXPECT_TRUE(edge::DiskCache::is_head("assets/a/720p/seg_00001.ts"));
  EXPECT_TRUE(edge::DiskCache::is_head("assets/a/720p/init.mp4"));
  EXPECT_FALSE(edge::DiskCache::is_head("assets/a/720p/seg_00002.ts"));
  EXPECT_FALSE(edge::DiskCache::is_head("assets/a/720p/seg_00010.ts"));
  EXPECT_FALSE(edge::DiskCache::is_head("assets/a/poster.jpg"));
}

TEST_F(CacheTest, EvictionOrderIsRestBeforeHeadThenLeastRecentlyUsedThenKey) {
  // Seven 1000-byte objects; the cache holds 7000 bytes. Then each new object
  // evicts exactly one, and we watch which.
  const std::vector<std::string> keys = {
      "assets/ast_a/720p/index.m3u8",    // head
      "assets/ast_a/720p/seg_00000.ts",  // head
      "assets/ast_a/720p/seg_00007.ts",  // rest
      "assets/ast_a/720p/seg_00005.ts",  // rest
      "assets/ast_a/720p/seg_00006.ts",  // rest
      "assets/ast_a/poster.jpg",         // rest
      "assets/ast_a/360p/seg_00001.ts",  // head
  };
  for (const auto& k : keys) inner_->put_bytes(k, pattern(1000, 'h'));
  for (int i = 0; i < 5; ++i)
    inner_->put_bytes("assets/ast_b/720p/seg_0001" + std::to_string(i) + ".ts", pattern(1000, 'i'));
  auto o = opts();
  o.max_bytes = 7000;
  edge::DiskCache cache(o, clock_);
  for (const auto& k : keys) ASSERT_EQ(cache.fill_and_wait(k, *origin_), edge::FillStatus::filled);
  EXPECT_TRUE(eventually([&] { return cache.stats().objects >= keys.size(); }));
  ASSERT_EQ(cache.stats().objects, keys.size());
  // Use seg_00007 again: it becomes the most recent "rest" object.
  ASSERT_TRUE(cache.lookup("assets/ast_a/720p/seg_00007.ts"));

  auto present = [&](const std::string& k) { return fs::exists(root_ / "cache" / "objects" / k); };
  auto add = [&](int i) {
    ASSERT_EQ(cache.fill_and_wait("assets/ast_b/720p/seg_0001" + std::to_string(i) + ".ts", *origin_),
              edge::FillStatus::filled);
  };
  // Expected victims, in order: rest by LRU (seg_00005, seg_00006, poster, seg_00007),
  // then the new ast_b objects (rest, older than nothing else left in rest)...
  add(0);
  EXPECT_FALSE(present("assets/ast_a/720p/seg_00005.ts"));
  EXPECT_TRUE(present("assets/ast_a/720p/seg_00006.ts"));
  add(1);
  EXPECT_FALSE(present("assets/ast_a/720p/seg_00006.ts"));
  add(2);
  EXPECT_FALSE(present("assets/ast_a/poster.jpg"));
  add(3);
  EXPECT_FALSE(present("assets/ast_a/720p/seg_00007.ts"));
  add(4);
  EXPECT_FALSE(present("assets/ast_b/720p/seg_00010.ts"));
  // The head class was never touched.
  EXPECT_TRUE(present("assets/ast_a/720p/index.m3u8"));
  EXPECT_TRUE(present("assets/ast_a/720p/seg_00000.ts"));
  EXPECT_TRUE(present("assets/ast_a/360p/seg_00001.ts"));
  EXPECT_EQ(cache.stats().evictions_total, 5u);
  EXPECT_LE(cache.stats().bytes, 7000u);
}

TEST_F(CacheTest, EvictionTiesAreBrokenByKey) {
  // After a restart every object gets its rebuilt tick from (mtime, key): objects
  // with the same mtime are ordered by key, so the smaller key goes first.
  auto o = opts();
  fs::create_directories(root_ / "cache" / "objects" / "assets" / "ast_a" / "720p");
  for (auto name : {"seg_00009.ts", "seg_00003.ts", "seg_00004.ts"}) {
    auto p = root_ / "cache" / "objects" / "assets" / "ast_a" / "720p" / name;
    std::ofstream(p) << pattern(1000, 'j');
    fs::last_write_time(p, fs::file_time_type{} + std::chrono::hours(24 * 365 * 50));
  }
  o.max_bytes = 2000;  // over by one object at start: the rebuild evicts
  edge::DiskCache cache(o, clock_);
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/seg_00003.ts"));
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/seg_00004.ts"));
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/seg_00009.ts"));
}

TEST_F(CacheTest, IndexIsRebuiltAtStartAndTempFilesAreRemoved) {
  inner_->put_bytes(kSeg, pattern(4096, 'k'));
  inner_->put_bytes("assets/ast_a/720p/index.m3u8", "#EXTM3U\n#EXTINF:4.000,\nseg_00005.ts\n#EXT-X-ENDLIST\n");
  {
    edge::DiskCache cache(opts(), clock_);
    ASSERT_EQ(cache.fill_and_wait(kSeg, *origin_), edge::FillStatus::filled);
    ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/index.m3u8", *origin_), edge::FillStatus::filled);
    EXPECT_TRUE(eventually([&] { return cache.stats().objects >= 2; }));
    EXPECT_DOUBLE_EQ(cache.segment_seconds(kSeg), 4.0);
  }
  // A crash mid-fill leaves a temp file behind.
  std::ofstream(root_ / "cache" / "tmp" / "partial") << "half";
  edge::DiskCache cache(opts(), clock_);
  auto st = cache.stats();
  EXPECT_EQ(st.objects, 2u);
  EXPECT_EQ(st.bytes, 4096u + fs::file_size(root_ / "cache" / "objects" / "assets/ast_a/720p/index.m3u8"));
  EXPECT_TRUE(fs::is_empty(root_ / "cache" / "tmp"));
  EXPECT_TRUE(cache.lookup(kSeg));
  EXPECT_DOUBLE_EQ(cache.segment_seconds(kSeg), 4.0) << "durations are relearnt from cached playlists";
  EXPECT_EQ(origin_->gets.load(), 2);
}

TEST_F(CacheTest, PurgeDuringAFillKeepsItFromLanding) {
  inner_->put_bytes(kSeg, pattern(256 * 1024, 'l'));
  origin_->chunk = 32 * 1024;
  origin_->allow_chunks(1);
  edge::DiskCache cache(opts(), clock_);
  auto m = cache.fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  EXPECT_GT(first_bytes(m.fill), 0u);
  cache.purge_asset("ast_a");  // while the fill is still running
  origin_->allow_chunks(-1);
  // The viewer already streaming still gets every byte...
  EXPECT_EQ(drain(m.fill).size(), 256u * 1024);
  // ...but nothing lands in the cache (checked once the fill thread is done).
  EXPECT_TRUE(eventually([&] { return cache.stats().in_flight_fills == 0; }));
  EXPECT_FALSE(cache.lookup(kSeg));
  EXPECT_FALSE(fs::exists(root_ / "cache" / "objects" / kSeg));
}

TEST_F(CacheTest, PlaylistsExpireByFillTime) {
  inner_->put_bytes("assets/ast_a/720p/index.m3u8", "#EXTM3U\n");
  edge::DiskCache cache(opts(), clock_);
  ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/index.m3u8", *origin_), edge::FillStatus::filled);
  EXPECT_TRUE(eventually([&] { return cache.lookup("assets/ast_a/720p/index.m3u8").has_value(); }));
  auto hit = cache.lookup("assets/ast_a/720p/index.m3u8", 60000);
  ASSERT_TRUE(hit);
  ASSERT_TRUE(hit->body) << "small objects are served from memory";
  EXPECT_EQ(*hit->body, "#EXTM3U\n");
  clock_.advance(5ms);
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/index.m3u8", 5)) << "5 ms old: fresh for a 5 ms max age";
  clock_.advance(1ms);
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/index.m3u8", 5));
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/index.m3u8")) << "expired for that max age, not evicted";
}

}  // namespace

namespace {

// Records every filesystem change the cache makes and whether, at that moment,
// another thread could take the index lock (i.e. a hit could be served). try_lock
// from a second thread is deterministic: no timing is asserted.
struct FsOpProbe {
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> ops;  // (op, index lock free)
  std::vector<bool> hits_during_purge;
  edge::DiskCache* cache = nullptr;
  std::string hit_key;  // looked up from another thread during a purge

  void attach(edge::CacheOptions& o) {
    o.on_fs_op = [this](std::string_view op, const std::string&) {
      if (!cache) return;
      bool free = std::async(std::launch::async, [this] { return cache->index_lock_free(); }).get();
      bool hit = false;
      // Only when the lock is free: a held lock would make this lookup wait forever.
      if (free && !hit_key.empty() && op != "unlink" && op != "rename")
        hit = std::async(std::launch::async, [this] { return cache->lookup(hit_key).has_value(); }).get();
      std::lock_guard lk(mu);
      ops.emplace_back(std::string(op), free);
      if (!hit_key.empty() && op != "unlink" && op != "rename") hits_during_purge.push_back(hit);
    };
  }
  size_t count(std::string_view op) {
    std::lock_guard lk(mu);
    return size_t(std::count_if(ops.begin(), ops.end(), [&](auto& p) { return p.first == op; }));
  }
};

}  // namespace

TEST_F(CacheTest, FilesystemWorkNeverHoldsTheIndexLock) {
  // Landing (rename), eviction (unlink) and purge (removing a large tree) all touch
  // the disk; a hit on another asset must be servable meanwhile.
  for (int i = 0; i < 4; ++i)
    inner_->put_bytes("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", pattern(1000, 'p'));
  for (int i = 0; i < 200; ++i)
    inner_->put_bytes("assets/ast_c/720p/seg_" + std::to_string(10000 + i) + ".ts", pattern(100, 'q'));
  inner_->put_bytes("assets/ast_b/720p/index.m3u8", "#EXTM3U\n");
  FsOpProbe probe;
  auto o = opts();
  o.max_bytes = 8 + 3000 + 200 * 100;  // one ast_a segment too few
  probe.attach(o);
  edge::DiskCache cache(o, clock_);
  probe.cache = &cache;
  ASSERT_EQ(cache.fill_and_wait("assets/ast_b/720p/index.m3u8", *origin_), edge::FillStatus::filled);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", *origin_),
              edge::FillStatus::filled);
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(cache.fill_and_wait("assets/ast_c/720p/seg_" + std::to_string(10000 + i) + ".ts", *origin_),
              edge::FillStatus::filled);
  EXPECT_GE(probe.count("rename"), 205u);
  EXPECT_EQ(probe.count("unlink"), 1u) << "the last ast_c segment evicts the oldest ast_a one";
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/seg_00010.ts"));
  probe.hit_key = "assets/ast_b/720p/index.m3u8";
  EXPECT_EQ(cache.purge_asset("ast_c"), 200u);
  EXPECT_FALSE(fs::exists(root_ / "cache" / "objects" / "assets" / "ast_c"));
  std::lock_guard lk(probe.mu);
  ASSERT_FALSE(probe.hits_during_purge.empty());
  for (bool h : probe.hits_during_purge) EXPECT_TRUE(h) << "a hit was served while the purge removed files";
  for (auto& [op, free] : probe.ops) EXPECT_TRUE(free) << op << " ran under the index lock";
}

TEST_F(CacheTest, FreeSpaceFloorTheCacheCannotRestoreEvictsNothing) {
  // The disk is full of something else: even an empty cache would not restore the
  // floor, so wiping it (and the object that just landed) would only cost hits.
  for (int i = 0; i < 3; ++i)
    inner_->put_bytes("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", pattern(1000, 'f'));
  auto o = opts();
  o.min_free_bytes = 1ull << 30;
  o.free_bytes_fn = [] { return uint64_t(0); };
  edge::DiskCache cache(o, clock_);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", *origin_),
              edge::FillStatus::filled);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cache.lookup("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts"));
  auto st = cache.stats();
  EXPECT_EQ(st.evictions_total, 0u);
  EXPECT_EQ(st.objects, 3u);
  EXPECT_GE(st.floor_unfixable_total, 3u);
}

TEST_F(CacheTest, FreeSpaceFloorEvictsOnlyTheDeficitAndNeverWhatJustLanded) {
  for (int i = 0; i < 6; ++i)
    inner_->put_bytes("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", pattern(1000, 'g'));
  std::atomic<uint64_t> free_now{1'000'000};
  auto o = opts();
  o.min_free_bytes = 100'000;
  o.free_bytes_fn = [&] { return free_now.load(); };
  edge::DiskCache cache(o, clock_);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/seg_0001" + std::to_string(i) + ".ts", *origin_),
              edge::FillStatus::filled);
  EXPECT_EQ(cache.stats().evictions_total, 0u);
  free_now = 100'000 - 1500;  // 1500 bytes short: two 1000-byte objects give it back
  ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/seg_00015.ts", *origin_), edge::FillStatus::filled);
  auto st = cache.stats();
  EXPECT_EQ(st.evictions_total, 2u);
  EXPECT_EQ(st.objects, 4u);
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/seg_00015.ts")) << "the object that just landed stays";
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/seg_00010.ts")) << "least recently used first";
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/seg_00011.ts"));
  EXPECT_TRUE(cache.lookup("assets/ast_a/720p/seg_00012.ts"));
  EXPECT_EQ(st.floor_unfixable_total, 0u);
}

TEST_F(CacheTest, SideTablesAreBoundedByTheIndex) {
  // Segment durations leave with the playlist that taught them (evicted or purged),
  // and purges or misses of assets leave no per-asset state behind.
  std::string pl = "#EXTM3U\n";
  for (int i = 0; i < 50; ++i) pl += "#EXTINF:4.000,\nseg_" + std::to_string(10000 + i) + ".ts\n";
  inner_->put_bytes("assets/ast_a/720p/index.m3u8", pl);
  inner_->put_bytes("assets/ast_b/720p/index.m3u8", pl);
  inner_->put_bytes("assets/ast_c/720p/seg_00000.ts", pattern(3000, 's'));  // head class, like the playlists
  auto o = opts();
  o.max_bytes = 2 * pl.size() + 1000;
  edge::DiskCache cache(o, clock_);
  ASSERT_EQ(cache.fill_and_wait("assets/ast_a/720p/index.m3u8", *origin_), edge::FillStatus::filled);
  ASSERT_EQ(cache.fill_and_wait("assets/ast_b/720p/index.m3u8", *origin_), edge::FillStatus::filled);
  EXPECT_DOUBLE_EQ(cache.segment_seconds("assets/ast_a/720p/seg_10000.ts"), 4.0);
  EXPECT_EQ(cache.stats().aux_entries, 100u);
  cache.purge_asset("ast_b");
  EXPECT_EQ(cache.stats().aux_entries, 50u) << "purge drops what ast_b's playlist taught";
  // A 3000-byte object pushes ast_a's playlist out: its durations go with it.
  ASSERT_EQ(cache.fill_and_wait("assets/ast_c/720p/seg_00000.ts", *origin_), edge::FillStatus::filled);
  EXPECT_FALSE(cache.lookup("assets/ast_a/720p/index.m3u8"));
  EXPECT_EQ(cache.segment_seconds("assets/ast_a/720p/seg_10000.ts"), 0.0);
  EXPECT_EQ(cache.stats().aux_entries, 0u);
  for (int i = 0; i < 300; ++i) {
    std::string a = "ast_x" + std::to_string(i);
    cache.purge_asset(a);
    EXPECT_EQ(cache.fetch("assets/" + a + "/720p/seg_00001.ts", *origin_).status, edge::FillStatus::not_found);
  }
  EXPECT_EQ(cache.stats().aux_entries, 0u) << "no per-asset state for assets the cache does not hold";
}

TEST_F(CacheTest, MissingObjectsAreRememberedBrieflyAndCoalesced) {
  const std::string key = "assets/ast_a/720p/seg_00042.ts";
  auto o = opts();
  o.negative_ttl = std::chrono::milliseconds(60'000);
  edge::DiskCache cache(o, clock_);
  // Concurrent misses of a missing object share one origin request...
  std::vector<std::thread> ts;
  std::atomic<int> not_found{0};
  for (int i = 0; i < 20; ++i)
    ts.emplace_back([&] {
      if (cache.fetch(key, *origin_).status == edge::FillStatus::not_found) not_found++;
    });
  for (auto& t : ts) t.join();
  // ...and later ones within the TTL make none.
  for (int i = 0; i < 30; ++i) EXPECT_EQ(cache.fetch(key, *origin_).status, edge::FillStatus::not_found);
  EXPECT_EQ(not_found.load(), 20);
  EXPECT_EQ(origin_->gets.load(), 1);
  EXPECT_GE(cache.stats().negative_hits_total, 30u);

  // Published meanwhile: a warm (fill_and_wait) does not trust the negative entry...
  inner_->put_bytes(key, pattern(1000, 'n'));
  EXPECT_EQ(cache.fill_and_wait(key, *origin_), edge::FillStatus::filled);
  EXPECT_EQ(origin_->gets.load(), 2);
  EXPECT_TRUE(cache.lookup(key));
  // ...and a purge forgets misses of the asset.
  const std::string other = "assets/ast_a/720p/seg_00043.ts";
  EXPECT_EQ(cache.fetch(other, *origin_).status, edge::FillStatus::not_found);
  inner_->put_bytes(other, pattern(1000, 'm'));
  EXPECT_EQ(cache.fetch(other, *origin_).status, edge::FillStatus::not_found) << "still remembered";
  cache.purge_asset("ast_a");
  EXPECT_EQ(cache.fetch(other, *origin_).status, edge::FillStatus::filled);
  EXPECT_EQ(origin_->gets.load(), 4);
}

TEST_F(CacheTest, NegativeEntriesExpire) {
  const std::string key = "assets/ast_a/720p/seg_00042.ts";
  auto o = opts();
  o.negative_ttl = std::chrono::milliseconds(30);
  edge::DiskCache cache(o, clock_);
  EXPECT_EQ(cache.fetch(key, *origin_).status, edge::FillStatus::not_found);
  inner_->put_bytes(key, pattern(1000, 'e'));
  clock_.advance(29ms);
  EXPECT_EQ(cache.fetch(key, *origin_).status, edge::FillStatus::not_found) << "within the TTL";
  EXPECT_EQ(origin_->gets.load(), 1);
  clock_.advance(1ms);
  EXPECT_EQ(cache.fetch(key, *origin_).status, edge::FillStatus::filled);
  EXPECT_EQ(origin_->gets.load(), 2);
}

TEST_F(CacheTest, AnExpiredPlaylistIsFetchedAgain) {
  const std::string key = "assets/ast_a/720p/index.m3u8";
  inner_->put_bytes(key, "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n");
  edge::DiskCache cache(opts(), clock_);
  ASSERT_EQ(cache.fill_and_wait(key, *origin_), edge::FillStatus::filled);
  inner_->put_bytes(key, "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:4.0,\nseg_00001.ts\n");
  clock_.advance(20ms);
  // Fresh enough for a long max age: no new fetch.
  EXPECT_EQ(cache.fetch(key, *origin_, 60000).status, edge::FillStatus::cached);
  // Too old for a short one: a new fill replaces it.
  auto m = cache.fetch(key, *origin_, 5);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  EXPECT_NE(drain(m.fill).find("seg_00001"), std::string::npos);
  auto hit = cache.lookup(key);
  ASSERT_TRUE(hit && hit->body);
  EXPECT_NE(hit->body->find("seg_00001"), std::string::npos);
  EXPECT_EQ(cache.stats().objects, 1u);
  EXPECT_EQ(origin_->gets.load(), 2);
}

// A warm follows a publish: with max age 0 it refetches a cached playlist even
// within its TTL, so the next viewer gets the published text as a HIT.
TEST_F(CacheTest, AWarmWithMaxAgeZeroRefetchesACachedPlaylist) {
  const std::string key = "assets/ast_a/720p/index.m3u8";
  inner_->put_bytes(key, "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n");
  edge::DiskCache cache(opts(), clock_);
  ASSERT_EQ(cache.fill_and_wait(key, *origin_), edge::FillStatus::filled);
  inner_->put_bytes(key, "#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n");
  clock_.advance(1ms);
  ASSERT_EQ(cache.fill_and_wait(key, *origin_), edge::FillStatus::filled);
  EXPECT_EQ(origin_->gets.load(), 1) << "without a max age the cached copy is enough";
  ASSERT_EQ(cache.fill_and_wait(key, *origin_, 0), edge::FillStatus::filled);
  EXPECT_EQ(origin_->gets.load(), 2);
  auto hit = cache.lookup(key, 2000);
  ASSERT_TRUE(hit && hit->body);
  EXPECT_NE(hit->body->find("ENDLIST"), std::string::npos);
}

// --- Readers that never block: the HTTP server's view of a fill -------------------

namespace {

// Opens the origin's gate on the way out (declared after the cache: runs first), so
// a failed assertion cannot leave the cache's destructor waiting for a held fill.
struct GateOpener {
  ControlledOrigin& o;
  ~GateOpener() {
    o.allow_chunks(-1);
    o.open_gate();
  }
};
struct ReadOutcome {
  std::string body;
  bool eof = false, error = false;
};
struct WakeQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<size_t> ready;
};
// Drives FillReaders the way the HTTP server does, all from the calling thread:
// try_read until it would block, then leave the reader parked until its callback
// (from the fill thread) wakes the loop. One thread serves every reader.
// Zero-copy: try_peek_file instead, reading the bytes through the span's descriptor
// at its offset (what the server's sendfile does) and consuming all of them or, every
// other time, half (a partial send), so a peek that consumed nothing by itself and a
// consume that moves the offset are both exercised.
class Driver {
 public:
  enum class Mode { copy, zero_copy };
  explicit Driver(std::vector<std::unique_ptr<edge::FillReader>>& readers, Mode mode = Mode::copy)
      : readers_(readers), out(readers.size()), mode_(mode), active_(readers.size()) {
    for (size_t i = 0; i < readers.size(); ++i) runnable_.push_back(i);
  }
  // Runs until `done(out)` holds or every reader ended; false if the readers stopped
  // being woken first (10 s).
  template <class Done>
  bool run(Done done) {
    char buf[16384];
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (active_ > 0 && !done(out)) {
      if (runnable_.empty()) {
        std::unique_lock lk(q_->mu);
        if (!q_->cv.wait_until(lk, deadline, [&] { return !q_->ready.empty(); })) return false;
        runnable_.swap(q_->ready);
      }
      size_t i = runnable_.back();
      runnable_.pop_back();
      for (;;) {
        auto r = mode_ == Mode::copy ? readers_[i]->try_read(buf, sizeof buf) : peek(i, buf, sizeof buf);
        if (r.status == http::AsyncBodySource::ReadStatus::data) {
          out[i].body.append(buf, r.bytes);
          continue;
        }
        if (r.status == http::AsyncBodySource::ReadStatus::would_block) {
          readers_[i]->notify_when_readable([q = q_, i] {
            std::lock_guard lk(q->mu);
            q->ready.push_back(i);
            q->cv.notify_all();
          });
        } else {
          (r.status == http::AsyncBodySource::ReadStatus::eof ? out[i].eof : out[i].error) = true;
          active_--;
        }
        break;
      }
    }
    return true;
  }
  // Every reader parked (or ended), none woken since.
  bool idle() {
    std::lock_guard lk(q_->mu);
    return runnable_.empty() && q_->ready.empty();
  }
  bool run_to_end() {
    return run([](const auto&) { return false; });
  }

 private:
  // try_peek_file + pread + consume, as a try_read: the bytes consumed land in buf.
  http::AsyncBodySource::ReadResult peek(size_t i, char* buf, size_t n) {
    http::AsyncBodySource::FileSpan span;
    auto r = readers_[i]->try_peek_file(span, n);
    if (!r) return {http::AsyncBodySource::ReadStatus::error, 0, "no file span from a fill reader"};
    if (r->status != http::AsyncBodySource::ReadStatus::data) return *r;
    if (r->bytes == 0 || r->bytes > n) return {http::AsyncBodySource::ReadStatus::error, 0, "span size out of range"};
    if (span.offset != out[i].body.size()) return {http::AsyncBodySource::ReadStatus::error, 0, "span offset wrong"};
    size_t k = (++peeks_ % 2 == 0 && r->bytes > 1) ? r->bytes / 2 : r->bytes;
    ssize_t got = ::pread(span.fd, buf, k, off_t(span.offset));
    if (got != ssize_t(k)) return {http::AsyncBodySource::ReadStatus::error, 0, "span not readable"};
    readers_[i]->consume(k);
    return {http::AsyncBodySource::ReadStatus::data, k};
  }

  std::vector<std::unique_ptr<edge::FillReader>>& readers_;

 public:
  std::vector<ReadOutcome> out;

 private:
  Mode mode_;
  uint64_t peeks_ = 0;
  std::shared_ptr<WakeQueue> q_ = std::make_shared<WakeQueue>();  // callbacks may outlive a failed test
  std::vector<size_t> runnable_;
  size_t active_;
};

// The async reader tests run twice: through try_read (a buffer) and through
// try_peek_file/consume (the server's sendfile path), which must behave the same.
class FillReaderTest : public CacheTest, public ::testing::WithParamInterface<Driver::Mode> {};
void PrintTo(Driver::Mode m, std::ostream* os) { *os << (m == Driver::Mode::copy ? "try_read" : "try_peek_file"); }

}  // namespace

INSTANTIATE_TEST_SUITE_P(Reads, FillReaderTest, ::testing::Values(Driver::Mode::copy, Driver::Mode::zero_copy),
                         [](const auto& info) { return info.param == Driver::Mode::copy ? "Copy" : "ZeroCopy"; });

// Twenty viewers of a cold object: joining the fill returns at once (the origin has
// not answered), one callback says when it has, and one thread streams the fill to
// all twenty as it arrives. One origin request; the object is a HIT the moment a
// viewer's body ended.
TEST_P(FillReaderTest, AsyncReadersStreamOneFillWithoutWaiting) {
  auto body = pattern(1 << 20, 'h');
  inner_->put_bytes(kSeg, body);
  origin_->chunk = 64 * 1024;
  origin_->allow_chunks(0);    // no body bytes until the test says so
  origin_->gate_open = false;  // and the head is late
  edge::DiskCache cache(opts(), clock_);
  GateOpener opener{*origin_};
  std::vector<std::shared_ptr<edge::Fill>> fills;
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto m = cache.start_fetch(kSeg, *origin_);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "joining a fill must not wait for the origin";
    ASSERT_EQ(m.status, edge::FillStatus::filled);
    ASSERT_FALSE(m.would_wait);
    EXPECT_FALSE(m.fill->outcome().has_value()) << "the origin has not answered yet";
    fills.push_back(m.fill);
  }
  for (auto& f : fills) EXPECT_EQ(f, fills[0]) << "coalesced: one fill";
  std::atomic<int> answered{0};
  fills[0]->notify_on_change(fills[0]->progress(), [&] { answered++; });
  EXPECT_EQ(answered.load(), 0);
  origin_->open_gate();
  EXPECT_TRUE(eventually([&] { return answered.load() == 1; }));
  ASSERT_EQ(fills[0]->outcome(), edge::FillStatus::filled);

  std::vector<std::unique_ptr<edge::FillReader>> readers;
  for (auto& f : fills) readers.push_back(std::make_unique<edge::FillReader>(f, 0, body.size()));
  Driver driver(readers, GetParam());
  ASSERT_TRUE(driver.run([&](const auto&) { return driver.idle(); }));
  for (const auto& o : driver.out) ASSERT_TRUE(o.body.empty() && !o.eof && !o.error) << "parked: nothing arrived yet";
  // New bytes wake the parked readers: each gets 256 KiB while the fill then stalls.
  origin_->allow_chunks(4);
  ASSERT_TRUE(driver.run([](const auto& out) {
    return std::all_of(out.begin(), out.end(), [](const ReadOutcome& o) { return o.body.size() == 256 * 1024; });
  })) << "readers not woken by the fill's bytes";
  EXPECT_EQ(fills[0]->progress().state, edge::Fill::State::streaming);
  origin_->allow_chunks(-1);
  ASSERT_TRUE(driver.run_to_end()) << "readers not woken by the fill's bytes";
  const auto& got = driver.out;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].eof) << i;
    EXPECT_TRUE(got[i].body == body) << i << ": " << got[i].body.size() << " bytes";
  }
  EXPECT_EQ(origin_->gets.load(), 1);
  EXPECT_TRUE(cache.lookup(kSeg)) << "the last byte goes out only once the fill landed";
}

// An origin error mid-object: every async reader gets the bytes that arrived, then an
// error (the server aborts the connection), never an end; nothing is cached.
TEST_P(FillReaderTest, OriginErrorMidFillEndsEveryAsyncReaderWithAnError) {
  auto body = pattern(300 * 1024, 'i');
  inner_->put_bytes(kSeg, body);
  origin_->chunk = 64 * 1024;
  origin_->fail_after_bytes = 128 * 1024;
  origin_->gate_open = false;
  edge::DiskCache cache(opts(), clock_);
  GateOpener opener{*origin_};
  std::vector<std::unique_ptr<edge::FillReader>> readers;
  std::shared_ptr<edge::Fill> fill;
  for (int i = 0; i < 10; ++i) {
    auto m = cache.start_fetch(kSeg, *origin_);
    ASSERT_EQ(m.status, edge::FillStatus::filled);
    fill = m.fill;
  }
  std::atomic<bool> answered{false};
  fill->notify_on_change(fill->progress(), [&] { answered = true; });
  origin_->open_gate();
  ASSERT_TRUE(eventually([&] { return answered.load(); }));
  ASSERT_TRUE(eventually([&] { return fill->outcome().has_value(); }));
  for (int i = 0; i < 10; ++i) readers.push_back(std::make_unique<edge::FillReader>(fill, 0, body.size()));
  Driver driver(readers, GetParam());
  ASSERT_TRUE(driver.run_to_end()) << "readers not woken";
  const auto& got = driver.out;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].error) << i;
    EXPECT_FALSE(got[i].eof) << i;
    EXPECT_TRUE(got[i].body == body.substr(0, 128 * 1024)) << i << ": " << got[i].body.size() << " bytes";
  }
  EXPECT_FALSE(cache.lookup(kSeg));
  EXPECT_EQ(origin_->gets.load(), 1);
}

// With every fill slot taken, start_fetch neither waits nor counts a refusal: it says
// the caller would have to wait (the edge then retries where it may block).
TEST_F(CacheTest, StartFetchDoesNotWaitForAFillSlot) {
  inner_->put_bytes(kSeg, pattern(1024, 'j'));
  inner_->put_bytes("assets/ast_a/720p/seg_00006.ts", pattern(1024, 'k'));
  origin_->gate_open = false;
  auto o = opts();
  o.max_in_flight_fills = 1;
  o.fill_queue_wait = 5s;
  edge::DiskCache cache(o, clock_);
  GateOpener opener{*origin_};
  auto first = cache.start_fetch(kSeg, *origin_);
  ASSERT_EQ(first.status, edge::FillStatus::filled);
  auto t0 = std::chrono::steady_clock::now();
  auto second = cache.start_fetch("assets/ast_a/720p/seg_00006.ts", *origin_);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(second.status, edge::FillStatus::busy);
  EXPECT_TRUE(second.would_wait);
  EXPECT_EQ(cache.stats().busy_total, 0u);
  origin_->open_gate();
}

// --- Zero-copy reads: try_peek_file / consume ------------------------------------

namespace {

// One step of a reader as the server takes it: try_read, or try_peek_file, then the
// bytes through the span (pread, as sendfile reads them) and consume(all of them).
http::AsyncBodySource::ReadResult step(edge::FillReader& r, Driver::Mode mode, std::string& out, size_t n = 65536) {
  std::string buf(n, '\0');
  if (mode == Driver::Mode::copy) {
    auto res = r.try_read(buf.data(), n);
    if (res.status == http::AsyncBodySource::ReadStatus::data) out.append(buf.data(), res.bytes);
    return res;
  }
  http::AsyncBodySource::FileSpan span;
  auto res = r.try_peek_file(span, n);
  if (!res) return {http::AsyncBodySource::ReadStatus::error, 0, "no file span"};
  if (res->status == http::AsyncBodySource::ReadStatus::data) {
    EXPECT_EQ(::pread(span.fd, buf.data(), res->bytes, off_t(span.offset)), ssize_t(res->bytes));
    out.append(buf.data(), res->bytes);
    r.consume(res->bytes);
  }
  return *res;
}

// Lets a stalled origin run on the way out (declared after the cache: runs first), so
// a failed assertion cannot leave the cache's destructor waiting for its fill.
struct Unstall {
  ControlledOrigin& o;
  ~Unstall() {
    o.allow_chunks(-1);
    o.open_gate();
  }
};

// Holds the fill worker just before it renames `key` into objects/ (every byte on
// disk, the fill not complete yet) until released.
struct LandingGate {
  std::string key;
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false, released = false;
  void hook(std::string_view op, const std::string& path) {
    if (op != "rename" || !path.ends_with(key)) return;
    std::unique_lock lk(mu);
    reached = true;
    cv.notify_all();
    cv.wait(lk, [&] { return released; });
  }
  bool wait_reached() {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, 10s, [&] { return reached; });
  }
  void release() {
    std::lock_guard lk(mu);
    released = true;
    cv.notify_all();
  }
};

}  // namespace

// Both ways of reading hand out every byte but the object's last one while the fill
// has not landed, and the last one (then the end) once it has: the viewer's next
// request after a complete MISS is a HIT.
TEST_P(FillReaderTest, TheLastByteWaitsForTheLanding) {
  const auto body = pattern(200 * 1024, 'm');
  inner_->put_bytes(kSeg, body);
  auto gate = std::make_shared<LandingGate>();
  gate->key = kSeg;
  auto o = opts();
  o.on_fs_op = [gate](std::string_view op, const std::string& path) { gate->hook(op, path); };
  edge::DiskCache cache(o, clock_);
  // Declared after the cache: releases the worker before the cache waits for it.
  struct Release {
    std::shared_ptr<LandingGate> g;
    ~Release() { g->release(); }
  } release{gate};
  auto m = cache.fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  ASSERT_TRUE(gate->wait_reached()) << "the fill never came to land";
  edge::FillReader reader(m.fill, 0, body.size());
  std::string got;
  http::AsyncBodySource::ReadResult r;
  while ((r = step(reader, GetParam(), got)).status == http::AsyncBodySource::ReadStatus::data) {
  }
  EXPECT_EQ(r.status, http::AsyncBodySource::ReadStatus::would_block);
  EXPECT_EQ(got.size(), body.size() - 1) << "all but the last byte before the landing";
  std::atomic<bool> woken{false};
  reader.notify_when_readable([&] { woken = true; });
  EXPECT_FALSE(woken.load());
  gate->release();
  ASSERT_TRUE(eventually([&] { return woken.load(); })) << "the landing must wake a parked reader";
  EXPECT_TRUE(cache.lookup(kSeg)) << "landed before the last byte went out";
  EXPECT_EQ(step(reader, GetParam(), got).status, http::AsyncBodySource::ReadStatus::data);
  EXPECT_EQ(step(reader, GetParam(), got).status, http::AsyncBodySource::ReadStatus::eof);
  EXPECT_TRUE(got == body);
}

// A range [offset, offset + length) inside the object: a peek names the fill's file at
// the reader's offset and never more than n, consumes nothing by itself, and
// consume(k) moves the offset by k; try_read goes on from where consume left off.
TEST_F(CacheTest, APeekConsumesNothingAndConsumeMovesTheOffset) {
  const auto body = pattern(256 * 1024, 'n');
  inner_->put_bytes(kSeg, body);
  origin_->chunk = 64 * 1024;
  origin_->allow_chunks(1);  // one chunk, then the fill stalls
  edge::DiskCache cache(opts(), clock_);
  Unstall unstall{*origin_};
  auto m = cache.fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  ASSERT_EQ(first_bytes(m.fill), 64u * 1024);
  edge::FillReader reader(m.fill, 1000, 100000);  // ends past what has arrived
  using RS = http::AsyncBodySource::ReadStatus;
  http::AsyncBodySource::FileSpan span, again;
  auto r = reader.try_peek_file(span, 1 << 20);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, RS::data);
  EXPECT_EQ(r->bytes, 64u * 1024 - 1000) << "what has arrived from the offset on";
  EXPECT_GE(span.fd, 0);
  EXPECT_EQ(span.offset, 1000u);
  auto r2 = reader.try_peek_file(again, 500);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->bytes, 500u) << "at most n";
  EXPECT_EQ(again.fd, span.fd);
  EXPECT_EQ(again.offset, 1000u) << "a peek consumes nothing";
  reader.consume(300);
  ASSERT_EQ(reader.try_peek_file(span, 1 << 20)->bytes, 64u * 1024 - 1300);
  EXPECT_EQ(span.offset, 1300u);
  std::string copy(16, '\0');
  ASSERT_EQ(reader.try_read(copy.data(), copy.size()).bytes, 16u);
  EXPECT_EQ(copy, body.substr(1300, 16)) << "try_read goes on from the consumed offset";
  ASSERT_EQ(reader.try_peek_file(span, 1 << 20)->bytes, 64u * 1024 - 1316);
  EXPECT_EQ(span.offset, 1316u);
  reader.consume(64 * 1024 - 1316);
  EXPECT_EQ(reader.try_peek_file(span, 1 << 20)->status, RS::would_block) << "caught up with the fill";
  origin_->allow_chunks(-1);
  std::string rest;
  for (;;) {
    auto s = step(reader, Driver::Mode::zero_copy, rest);
    if (s.status == RS::would_block) {
      ASSERT_TRUE(eventually([&] { return m.fill->progress().written > 64u * 1024 + rest.size(); }));
      continue;
    }
    if (s.status != RS::data) {
      EXPECT_EQ(s.status, RS::eof) << s.error;
      break;
    }
  }
  EXPECT_TRUE(rest == body.substr(64 * 1024, 1000 + 100000 - 64 * 1024)) << rest.size() << " bytes";
}

// The file a span names stays readable (with sendfile, as the server reads it) for as
// long as the reader lives: after the fill landed (renamed into objects/), after it
// was evicted (unlinked), and after the cache itself is gone.
TEST_F(CacheTest, ASpanOutlivesTheLandingTheEvictionAndTheCache) {
  const auto body = pattern(256 * 1024, 'o');
  const std::string other = "assets/ast_a/720p/seg_00006.ts";
  inner_->put_bytes(kSeg, body);
  inner_->put_bytes(other, pattern(1024, 'p'));
  origin_->chunk = 64 * 1024;
  origin_->allow_chunks(1);
  auto o = opts();
  o.max_bytes = body.size();  // the next object landing evicts this one
  auto cache = std::make_unique<edge::DiskCache>(o, clock_);
  Unstall unstall{*origin_};
  auto m = cache->fetch(kSeg, *origin_);
  ASSERT_EQ(m.status, edge::FillStatus::filled);
  ASSERT_EQ(first_bytes(m.fill), 64u * 1024);
  auto reader = std::make_unique<edge::FillReader>(m.fill, 0, body.size());
  m = {};  // the reader is the fill's only holder outside the cache

  const int sink = ::memfd_create("span-sink", MFD_CLOEXEC);
  ASSERT_GE(sink, 0);
  std::string got;
  // Sends up to n bytes of the reader through sendfile into `sink`; returns the status.
  auto send = [&](size_t n) {
    http::AsyncBodySource::FileSpan span;
    auto r = reader->try_peek_file(span, n);
    if (!r || r->status != http::AsyncBodySource::ReadStatus::data) return r;
    off_t off = off_t(span.offset);
    ssize_t sent = ::sendfile(sink, span.fd, &off, r->bytes);
    EXPECT_GT(sent, 0) << std::strerror(errno);
    if (sent <= 0) return r;
    std::string b(size_t(sent), '\0');
    EXPECT_EQ(::pread(sink, b.data(), b.size(), off_t(got.size())), sent);
    got += b;
    reader->consume(size_t(sent));
    return r;
  };
  ASSERT_EQ(send(32 * 1024)->status, http::AsyncBodySource::ReadStatus::data);
  origin_->allow_chunks(-1);
  ASSERT_TRUE(eventually([&] { return cache->lookup(kSeg).has_value(); }));
  ASSERT_EQ(send(64 * 1024)->status, http::AsyncBodySource::ReadStatus::data) << "after the rename";
  ASSERT_EQ(cache->fill_and_wait(other, *origin_), edge::FillStatus::filled);
  ASSERT_TRUE(eventually([&] { return cache->stats().evictions_total == 1; }));
  ASSERT_FALSE(fs::exists(root_ / "cache" / "objects" / kSeg)) << "evicted";
  ASSERT_EQ(send(64 * 1024)->status, http::AsyncBodySource::ReadStatus::data) << "after the eviction";
  cache.reset();
  for (;;) {
    auto r = send(64 * 1024);
    ASSERT_TRUE(r);
    if (r->status != http::AsyncBodySource::ReadStatus::data) {
      EXPECT_EQ(r->status, http::AsyncBodySource::ReadStatus::eof) << r->error;
      break;
    }
  }
  EXPECT_TRUE(got == body) << got.size() << " bytes";
  ::close(sink);
}
