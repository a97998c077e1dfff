#include "worker/worker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>

#include "core/env.h"
#include "core/ids.h"
#include "store/factory.h"

namespace rend::worker {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The real directory object store, with writes that fail on demand (a test double
// faithful to the interface: a failing write throws StoreError and stores nothing).
class FlakyObjects final : public store::ObjectStore {
 public:
  explicit FlakyObjects(std::unique_ptr<store::ObjectStore> real) : real_(std::move(real)) {}
  std::atomic<bool> writes_down{false};
  std::atomic<int> failed_writes{0};

  std::unique_ptr<store::ObjectWriter> begin_put(const std::string& key) override {
    check();
    return real_->begin_put(key);
  }
  void put_bytes(const std::string& key, std::string_view data) override {
    check();
    real_->put_bytes(key, data);
  }
  void put_file(const std::string& key, const std::string& local_path) override {
    check();
    real_->put_file(key, local_path);
  }
  std::unique_ptr<store::ObjectReader> get(const std::string& key) override { return real_->get(key); }
  std::optional<store::ObjectInfo> head(const std::string& key) override { return real_->head(key); }
  bool get_to_file(const std::string& key, const std::string& local_path) override {
    return real_->get_to_file(key, local_path);
  }
  std::vector<std::string> list(const std::string& prefix) override { return real_->list(prefix); }
  size_t delete_prefix(const std::string& prefix) override { return real_->delete_prefix(prefix); }
  store::HealthStatus health() override { return real_->health(); }

 private:
  void check() {
    if (writes_down) {
      ++failed_writes;
      throw store::StoreError("object store unavailable (injected)");
    }
  }
  std::unique_ptr<store::ObjectStore> real_;
};

// Records every run; a script registered for a program answers instead of running
// it (once), anything else runs for real.
class ScriptedRunner final : public core::ProcessRunner {
 public:
  using Script = std::function<core::ProcessResult(const std::vector<std::string>&)>;
  core::ProcessResult run(const std::vector<std::string>& argv, const core::ProcessOptions& opts) override {
    Script script;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(argv);
      auto it = scripts_.find(argv.at(0));
      if (it != scripts_.end() && !it->second.empty()) {
        script = std::move(it->second.front());
        it->second.erase(it->second.begin());
      }
    }
    if (script) return script(argv);
    return real_.run(argv, opts);
  }
  void script_once(const std::string& program, Script s) {
    std::lock_guard lock(mu_);
    scripts_[program].push_back(std::move(s));
  }
  int calls_of(const std::string& program) {
    std::lock_guard lock(mu_);
    return int(std::count_if(calls_.begin(), calls_.end(), [&](const auto& a) { return a.at(0) == program; }));
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<Script>> scripts_;
  std::vector<std::vector<std::string>> calls_;
  core::PosixProcessRunner real_;
};

class FakeClock final : public core::SystemClock {  // fakes wall time only
 public:
  std::atomic<int64_t> ms{1'800'000'000'000};
  int64_t now_unix() const override { return ms / 1000; }
  int64_t now_unix_ms() const override { return ms; }
};

class WorkerRetry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    clip_dir_ = fs::temp_directory_path() / ("rend-worker-clip-" + std::to_string(::getpid()));
    fs::create_directories(clip_dir_);
    core::PosixProcessRunner r;
    core::ProcessOptions o;
    o.timeout = 60s;
    auto res = r.run({"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                      "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
                      "-pix_fmt", "yuv420p", "-g", "50", (clip_dir_ / "clip.mp4").string()},
                     o);
    ASSERT_EQ(res.exit_code, 0) << res.err_tail;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(clip_dir_, ec);
  }

  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-worker-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(root_);
    meta_ = store::open_metadata_store("sqlite://" + (root_ / "rend.db").string());
    meta_->migrate();
    objects_ = std::make_unique<FlakyObjects>(store::open_fs_object_store((root_ / "objects").string()));
    coord_ = store::make_memory_coordinator();
    cfg_.worker_id = "w1";
    cfg_.poll_interval_secs = 1;
    cfg_.lock_timeout_secs = 120;
    cfg_.process_timeout_secs = 120;
    cfg_.max_duration_secs = 3600;
    cfg_.ffmpeg_path = "ffmpeg";
    cfg_.ffprobe_path = "ffprobe";
    cfg_.work_dir = (root_ / "work").string();
    cfg_.active_heartbeat_window_secs = 60;
    worker_ = std::make_unique<MediaWorker>(cfg_, *meta_, *objects_, *coord_, runner_, clock_);
  }
  void TearDown() override {
    worker_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // An uploaded asset with its source in the object store and a queued job.
  std::string queued_asset() {
    store::Asset a;
    a.id = core::new_id("ast");
    a.visibility = "public";
    a.owner_key_id = "key_test";
    a.created_at_ms = clock_.ms;
    store::Upload u{core::new_id("upl"), a.id, std::nullopt, "pending", clock_.ms};
    meta_->create_upload(a, u);
    objects_->put_file("sources/" + a.id, (clip_dir_ / "clip.mp4").string());
    meta_->complete_upload(u.id, int64_t(fs::file_size(clip_dir_ / "clip.mp4")), clock_.ms);
    return a.id;
  }
  std::string status(const std::string& id) { return meta_->get_asset(id)->status; }
  bool run_once() { return worker_->run_once(stop_); }
  bool work_dir_empty() {
    std::error_code ec;
    return !fs::exists(cfg_.work_dir, ec) || fs::is_empty(cfg_.work_dir, ec);
  }

  static inline fs::path clip_dir_;
  fs::path root_;
  std::unique_ptr<store::MetadataStore> meta_;
  std::unique_ptr<FlakyObjects> objects_;
  std::unique_ptr<store::Coordinator> coord_;
  ScriptedRunner runner_;
  FakeClock clock_;
  core::WorkerConfig cfg_;
  std::unique_ptr<MediaWorker> worker_;
  std::atomic<bool> stop_{false};
};

TEST(RetryBackoff, GrowsAndIsCapped) {
  EXPECT_EQ(retry_backoff_ms(1), 15'000);
  EXPECT_EQ(retry_backoff_ms(2), 60'000);
  EXPECT_EQ(retry_backoff_ms(3), 240'000);
  EXPECT_EQ(retry_backoff_ms(4), 960'000);
  EXPECT_EQ(retry_backoff_ms(5), kMaxRetryBackoffMs);
  EXPECT_EQ(retry_backoff_ms(50), kMaxRetryBackoffMs);
}

TEST_F(WorkerRetry, FailingPutKeepsTheJobAndALaterAttemptCompletesIt) {
  std::string id = queued_asset();
  objects_->writes_down = true;
  ASSERT_TRUE(run_once());
  EXPECT_GT(objects_->failed_writes.load(), 0) << "the injected outage was never hit";
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_TRUE(work_dir_empty());

  // Backoff: nobody gets the job before it is over.
  objects_->writes_down = false;
  clock_.ms += retry_backoff_ms(1) - 1000;
  EXPECT_FALSE(run_once());
  EXPECT_FALSE(meta_->claim_job("w2", 120'000, clock_.ms).has_value());

  clock_.ms += 2000;
  ASSERT_TRUE(run_once());
  a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "hls_ready") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_TRUE(objects_->head("assets/" + id + "/master.m3u8").has_value());
  EXPECT_TRUE(work_dir_empty());
}

TEST_F(WorkerRetry, SpawnFailureIsRetriedNotBlamedOnTheInput) {
  std::string id = queued_asset();
  runner_.script_once("ffprobe", [](const std::vector<std::string>&) -> core::ProcessResult {
    throw std::runtime_error("fork: Resource temporarily unavailable");
  });
  ASSERT_TRUE(run_once());
  EXPECT_NE(status(id), "failed");
  EXPECT_EQ(meta_->pending_job_count(), 1);
  clock_.ms += retry_backoff_ms(1) + 1000;
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "hls_ready");
}

TEST_F(WorkerRetry, PermanentInputFaultFailsTheAssetOnce) {
  std::string id = queued_asset();
  runner_.script_once("ffprobe", [](const std::vector<std::string>&) {
    core::ProcessResult r;
    r.exit_code = 0;
    r.out = R"({"streams":[{"codec_type":"audio","codec_name":"mp3"}],
                "format":{"format_name":"mp3","duration":"3.0"}})";
    return r;
  });
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "not_a_video");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  clock_.ms += 24LL * 3600 * 1000;
  EXPECT_FALSE(run_once()) << "a permanent failure was retried";
  EXPECT_EQ(runner_.calls_of("ffprobe"), 1);
  EXPECT_EQ(runner_.calls_of("ffmpeg"), 0);
  EXPECT_TRUE(work_dir_empty());
}

TEST(WorkerLimitsConfig, DefaultsExplicitValuesAndZeroRefused) {
  auto env = [](std::map<std::string, std::string> vars) {
    vars["REND_PLAYBACK_SIGNING_SECRET"] = std::string(40, 's');
    return core::Env(std::move(vars));
  };
  auto c = core::WorkerConfig::from_env(env({}), "/tmp/rend-data");
  EXPECT_EQ(c.max_pixels, 8192ULL * 8192);
  EXPECT_EQ(c.max_fps, 240u);
  c = core::WorkerConfig::from_env(env({{"REND_MEDIA_MAX_PIXELS", "8294400"}, {"REND_MEDIA_MAX_FPS", "120"}}),
                                   "/tmp/rend-data");
  EXPECT_EQ(c.max_pixels, 8294400u);
  EXPECT_EQ(c.max_fps, 120u);
  for (const char* var : {"REND_MEDIA_MAX_PIXELS", "REND_MEDIA_MAX_FPS"}) {
    try {
      core::WorkerConfig::from_env(env({{var, "0"}}), "/tmp/rend-data");
      ADD_FAILURE() << var << "=0 accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(var), std::string::npos) << e.what();
    }
  }
}

TEST_F(WorkerRetry, ConfiguredLimitsRefuseASourceBeforeAnyFfmpegRuns) {
  cfg_.max_pixels = 320 * 200;  // the clip is 320x240
  std::string id = queued_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "unsupported_input");
  EXPECT_NE(a->error_message.value_or("").find("320x240"), std::string::npos) << a->error_message.value_or("");
  EXPECT_EQ(runner_.calls_of("ffmpeg"), 0);

  cfg_.max_pixels = 0;  // unset: the default bound
  cfg_.max_fps = 20;    // the clip is 25 fps
  id = queued_asset();
  ASSERT_TRUE(run_once());
  EXPECT_EQ(meta_->get_asset(id)->error_code.value_or(""), "unsupported_input");
  EXPECT_EQ(runner_.calls_of("ffmpeg"), 0);
}

TEST_F(WorkerRetry, StartRemovesOnlyJobDirsOlderThanAnyJob) {
  worker_.reset();
  clock_.ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch()).count();
  fs::path w = cfg_.work_dir;
  fs::create_directories(w / "job-ast_dead.AbC123" / "p");
  std::ofstream(w / "job-ast_dead.AbC123" / "source") << "left by a SIGKILLed worker";
  fs::create_directories(w / "job-ast_live.XyZ789");  // another worker's running job
  fs::create_directories(w / "operator-notes");
  // Older than 2 x process timeout + lock timeout + 1 h.
  int64_t old_s = clock_.now_unix() - (2 * 120 + 120 + 3600) - 60;
  for (const char* n : {"job-ast_dead.AbC123", "operator-notes"}) {
    timespec ts[2] = {{old_s, 0}, {old_s, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (w / n).c_str(), ts, 0), 0);
  }
  worker_ = std::make_unique<MediaWorker>(cfg_, *meta_, *objects_, *coord_, runner_, clock_);
  EXPECT_FALSE(fs::exists(w / "job-ast_dead.AbC123"));
  EXPECT_TRUE(fs::exists(w / "job-ast_live.XyZ789"));
  EXPECT_TRUE(fs::exists(w / "operator-notes"));
}

TEST_F(WorkerRetry, AnOutageLongerThanTheAttemptBudgetEndsWithTheStoresVerdict) {
  std::string id = queued_asset();
  objects_->writes_down = true;
  int attempts = 0;
  for (int i = 0; i < 10 && status(id) != "failed"; ++i) {
    if (run_once()) ++attempts;
    clock_.ms += kMaxRetryBackoffMs + 1000;
  }
  // Five claims (the store's limit), each ended by the outage; then the store
  // abandons the job. The asset never carries the infrastructure error as if it
  // were the input's.
  EXPECT_EQ(attempts, 5);
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "transcode_failed");
  EXPECT_EQ(meta_->pending_job_count(), 0);
}

}  // namespace
}  // namespace rend::worker
