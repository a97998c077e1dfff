#include "worker/worker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "core/env.h"
#include "core/ids.h"
#include "core/testing/scripted_runner.h"
#include "http/client.h"
#include "http/server.h"
#include "media/testing/fake_media.h"
#include "store/factory.h"
#include "store/testing/failing_objects.h"

namespace rend::worker {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using core::testing::Reply;
using core::testing::ScriptedRunner;
using store::testing::FailingObjects;
namespace fake = media::testing;

// The job loop end to end with no ffmpeg: real SQLite, the real directory object
// store behind FailingObjects, a ScriptedRunner answering for ffprobe and ffmpeg
// (writing the files they would), and a manual clock.
class WorkerRetry : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-worker-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(root_);
    meta_ = store::open_metadata_store("sqlite://" + (root_ / "rend.db").string());
    meta_->migrate();
    objects_ = std::make_unique<FailingObjects>(store::open_fs_object_store((root_ / "objects").string()));
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
    // A 2 s 320x240 H.264/AAC clip: fast path, one 240p rung.
    fake::script_good_job(runner_, 320, 240, 2.0);
    worker_ = std::make_unique<MediaWorker>(cfg_, *meta_, *objects_, *coord_, runner_, clock_);
  }
  void TearDown() override {
    worker_.reset();
    EXPECT_TRUE(runner_.unmatched().empty()) << "a run nobody scripted: " << runner_.unmatched().front().at(0);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // An uploaded asset with its source in the object store and a queued job. The
  // bytes are never decoded: ffprobe and ffmpeg are scripted.
  std::string queued_asset() {
    store::Asset a;
    a.id = core::new_id("ast");
    a.visibility = "public";
    a.owner_key_id = "key_test";
    a.account_id = "acc_test";
    // Assets belong to an account (the store refuses one it does not know).
    if (!meta_->get_account(a.account_id)) meta_->create_account({a.account_id, "test", clock_.now_unix_ms()});
    a.created_at_ms = clock_.now_unix_ms();
    store::Upload u{core::new_id("upl"), a.id, std::nullopt, "pending", clock_.now_unix_ms()};
    meta_->create_upload(a, u);
    const std::string bytes(4096, 'v');
    objects_->put_bytes("sources/" + a.id, bytes);
    meta_->complete_upload(u.id, int64_t(bytes.size()), clock_.now_unix_ms());
    return a.id;
  }
  std::string status(const std::string& id) { return meta_->get_asset(id)->status; }
  bool run_once() { return worker_->run_once(stop_); }
  bool work_dir_empty() {
    std::error_code ec;
    return !fs::exists(cfg_.work_dir, ec) || fs::is_empty(cfg_.work_dir, ec);
  }
  // The job can be claimed by another worker right now; returns its attempt number (0: no job).
  int claimable_now_attempt() {
    auto j = meta_->claim_job("w2", 120'000, clock_.now_unix_ms());
    if (!j) return 0;
    meta_->release_job(j->id, "w2");
    return j->attempts;
  }

  fs::path root_;
  std::unique_ptr<store::MetadataStore> meta_;
  std::unique_ptr<FailingObjects> objects_;
  std::unique_ptr<store::Coordinator> coord_;
  ScriptedRunner runner_;
  core::FakeClock clock_{1'800'000'000'000};
  Settings cfg_;
  std::unique_ptr<MediaWorker> worker_;
  std::atomic<bool> stop_{false};
};

TEST(FailingObjectsTest, NthPutAndPrefixRulesThrowAndStoreNothing) {
  fs::path dir = fs::temp_directory_path() / ("rend-failing-objects-" + std::to_string(std::random_device{}()));
  FailingObjects o(store::open_fs_object_store(dir.string()));
  o.fail_nth_put(2);
  o.put_bytes("a/1", "x");
  EXPECT_THROW(o.put_bytes("a/2", "x"), store::StoreError);
  EXPECT_FALSE(o.head("a/2").has_value());
  o.put_bytes("a/3", "x");  // once
  o.fail_puts("b/");
  EXPECT_THROW(o.put_file("b/1", "/dev/null"), store::StoreError);
  EXPECT_THROW(o.begin_put("b/2"), store::StoreError);
  o.put_bytes("c/1", "x");
  o.clear_failures();
  o.put_bytes("b/3", "x");
  EXPECT_EQ(o.failed_keys(), (std::vector<std::string>{"a/2", "b/1", "b/2"}));
  EXPECT_EQ(o.puts(), 7);
  fs::remove_all(dir);
}

TEST(RetryBackoff, GrowsAndIsCapped) {
  EXPECT_EQ(retry_backoff_ms(1), 15'000);
  EXPECT_EQ(retry_backoff_ms(2), 60'000);
  EXPECT_EQ(retry_backoff_ms(3), 240'000);
  EXPECT_EQ(retry_backoff_ms(4), 960'000);
  EXPECT_EQ(retry_backoff_ms(5), kMaxRetryBackoffMs);
  EXPECT_EQ(retry_backoff_ms(50), kMaxRetryBackoffMs);
}

// The ladder cap (issue 12): the entitlement answers are scripted per feature; the
// account, the store and the pipeline are real.
class WorkerLadderCap : public WorkerRetry {
 protected:
  void SetUp() override {
    WorkerRetry::SetUp();
    billing_.storage_features = {"storage_720p", "storage_1080p", "storage_2k", "storage_4k"};
    worker_->set_entitlements(billing_, [this](const std::string& account, const std::string& feature) {
      asked_.push_back(account + "/" + feature);
      billing::Entitlement e;
      if (answers_.count(feature)) e.outcome = answers_[feature];
      return e;
    });
  }
  billing::Settings billing_;
  std::map<std::string, billing::Entitlement::Outcome> answers_;
  std::vector<std::string> asked_;
};

TEST_F(WorkerLadderCap, APlanWithout2kOr4kGetsA1080pTopRungAndIsBilled1080p) {
  answers_ = {{"storage_4k", billing::Entitlement::Outcome::denied},
              {"storage_2k", billing::Entitlement::Outcome::denied}};
  fake::script_good_job(runner_, 2560, 1440, 2.0, "yuv420p", 1080);
  std::string id = queued_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  ASSERT_EQ(a->status, "hls_ready") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_EQ(a->billing_tier, "1080p");
  ASSERT_FALSE(a->tiers.empty());
  EXPECT_EQ(a->tiers.front().name, "1080p");
  EXPECT_EQ(a->tiers.front().height, 1080);
  EXPECT_TRUE(objects_->head("assets/" + id + "/1080p/index.m3u8").has_value());
  EXPECT_FALSE(objects_->head("assets/" + id + "/1440p/index.m3u8").has_value());
  // Highest first, from the source's own tier (2k) down to the first allowed one.
  EXPECT_EQ(asked_, (std::vector<std::string>{"acc_test/storage_2k", "acc_test/storage_1080p"}));
  // The fast path would serve the 1440p source as it is: not above the cap.
  EXPECT_EQ(runner_.count(fake::remux_run()), 0);
}

TEST_F(WorkerLadderCap, AnAllowedPlanKeepsTheFullLadder) {
  fake::script_good_job(runner_, 2560, 1440, 2.0);
  std::string id = queued_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  ASSERT_EQ(a->status, "hls_ready");
  EXPECT_EQ(a->billing_tier, "2k");
  EXPECT_EQ(a->tiers.front().height, 1440);
  EXPECT_EQ(asked_, (std::vector<std::string>{"acc_test/storage_2k"}));
}

TEST_F(WorkerLadderCap, AutumnUnavailableUnderTheDenyPolicyRetriesLaterNeverFails) {
  answers_ = {{"storage_2k", billing::Entitlement::Outcome::unavailable}};
  fake::script_good_job(runner_, 2560, 1440, 2.0);
  std::string id = queued_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_EQ(runner_.count(fake::ladder_run()), 0) << "no ladder runs without an answer";
  // Autumn back: the retry after the backoff builds the ladder.
  answers_.clear();
  clock_.advance_ms(retry_backoff_ms(1) + 1000);
  ASSERT_TRUE(run_once());
  EXPECT_EQ(meta_->get_asset(id)->status, "hls_ready");
  EXPECT_EQ(meta_->get_asset(id)->billing_tier, "2k");
}

TEST_F(WorkerRetry, FailingPutKeepsTheJobAndALaterAttemptCompletesIt) {
  std::string id = queued_asset();
  objects_->fail_puts("assets/");  // the object store is down for this attempt
  ASSERT_TRUE(run_once());
  EXPECT_GT(objects_->failed_puts(), 0) << "the injected outage was never hit";
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_TRUE(work_dir_empty());

  // Backoff: nobody gets the job before it is over.
  objects_->clear_failures();
  clock_.advance_ms(retry_backoff_ms(1) - 1000);
  EXPECT_FALSE(run_once());
  EXPECT_EQ(claimable_now_attempt(), 0);

  clock_.advance_ms(2000);
  ASSERT_TRUE(run_once());
  a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "hls_ready") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_TRUE(objects_->head("assets/" + id + "/master.m3u8").has_value());
  EXPECT_TRUE(objects_->head("assets/" + id + "/240p/seg_00000.ts").has_value());
  EXPECT_TRUE(objects_->head("assets/" + id + "/poster.jpg").has_value());
  EXPECT_TRUE(work_dir_empty());
}

// One put failing at the very end (the final master, after every segment and
// playlist is up and the asset is playable) is still the store's fault.
TEST_F(WorkerRetry, OneFailedPutOfTheFinalMasterIsRetriedNotFailed) {
  std::string id = queued_asset();
  // The first write of master.m3u8 (the fast path's) succeeds, the final one fails.
  objects_->fail_puts("assets/" + id + "/master.m3u8", 1, 1);
  ASSERT_TRUE(run_once());
  ASSERT_EQ(objects_->failed_keys(), std::vector<std::string>{"assets/" + id + "/master.m3u8"});
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "playable") << a->error_code.value_or("");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);

  clock_.advance_ms(retry_backoff_ms(1) + 1000);
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "hls_ready");
  EXPECT_EQ(meta_->pending_job_count(), 0);
}

TEST_F(WorkerRetry, SpawnFailureIsRetriedNotBlamedOnTheInput) {
  std::string id = queued_asset();
  runner_.on(fake::probe_run(), Reply::throws("fork: Resource temporarily unavailable"), 1);
  ASSERT_TRUE(run_once());
  EXPECT_NE(status(id), "failed");
  EXPECT_EQ(meta_->pending_job_count(), 1);
  clock_.advance_ms(retry_backoff_ms(1) + 1000);
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "hls_ready");
}

TEST_F(WorkerRetry, LadderSpawnFailureIsRetriedNotBlamedOnTheInput) {
  std::string id = queued_asset();
  runner_.on(fake::ladder_run(), Reply::throws("fork: Resource temporarily unavailable"), 1);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_EQ(claimable_now_attempt(), 0) << "retried without a backoff";
}

TEST_F(WorkerRetry, PermanentInputFaultFailsTheAssetOnce) {
  std::string id = queued_asset();
  runner_.on(fake::probe_run(), Reply::prints(fake::ffprobe_json_audio_only()), 1);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "not_a_video");
  EXPECT_EQ(a->error_message.value_or(""), "The file contains audio only; a video stream is required.");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  clock_.advance_ms(24LL * 3600 * 1000);
  EXPECT_FALSE(run_once()) << "a permanent failure was retried";
  EXPECT_EQ(runner_.count(fake::probe_run()), 1);
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 0);
  EXPECT_TRUE(work_dir_empty());
}

// ffmpeg failing on the input is a verdict on the input: transcode_failed with its
// last meaningful stderr line (no paths, no pointers), once.
TEST_F(WorkerRetry, LadderFfmpegExitingNonZeroFailsTheAssetWithItsError) {
  std::string id = queued_asset();
  runner_.on(fake::ladder_run(),
             Reply::exits(1,
                          "[h264 @ 0x55d0c0ffee00] Invalid NAL unit size in /srv/rend/work/job-x/source\n"
                          "Conversion failed!\n"),
             1);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "transcode_failed");
  EXPECT_EQ(a->error_message.value_or(""), "[h264] Invalid NAL unit size in <file>");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  clock_.advance_ms(kMaxRetryBackoffMs + 1000);
  EXPECT_FALSE(run_once()) << "a transcode failure was retried";
  EXPECT_EQ(runner_.count(fake::ladder_run()), 1);
  EXPECT_TRUE(work_dir_empty());
}

TEST_F(WorkerRetry, LadderTimeoutFailsTheAsset) {
  std::string id = queued_asset();
  core::ProcessResult timed_out;
  timed_out.timed_out = true;
  runner_.on(fake::ladder_run(), {.result = timed_out}, 1);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "transcode_failed");
  EXPECT_EQ(a->error_message.value_or(""), "Transcoding timed out.");
  EXPECT_EQ(meta_->pending_job_count(), 0);
}

// A graceful stop mid-transcode hands the job back at once: no failure, no backoff,
// and the claim does not count as an attempt.
TEST_F(WorkerRetry, StopMidTranscodeReleasesTheJobWithoutAnAttempt) {
  std::string id = queued_asset();
  runner_.on(fake::ladder_run(),
             {.custom =
                  [&](const core::testing::Argv&, const core::ProcessOptions& o) {
                    stop_ = true;  // SIGTERM arrives while ffmpeg runs
                    return core::testing::run_until_cancelled(o);
                  }},
             1);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_EQ(claimable_now_attempt(), 1) << "released at once, and the stopped claim is not an attempt";
  EXPECT_TRUE(work_dir_empty());

  stop_ = false;
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "hls_ready");
}

// Imports from a URL: the job fetches the source from a real local HTTP server,
// then runs exactly as for an upload.
class WorkerImport : public WorkerRetry {
 protected:
  void SetUp() override {
    WorkerRetry::SetUp();
    http::client_global_init();
    router_->add("GET", "/clip.mp4", [this](http::Request&) {
      ++hits_;
      return http::Response::text(200, body_, "video/mp4");
    });
    // Sends the head and a first part of the body, then holds the rest until released.
    router_->add("GET", "/slow.mp4", [this](http::Request&) {
      ++hits_;
      struct Held : http::BodySource {
        WorkerImport* t;
        bool sent = false;
        explicit Held(WorkerImport* t) : t(t) {}
        bool may_block() const override { return true; }
        size_t read(char* buf, size_t n) override {
          if (!sent) {
            sent = true;
            n = std::min<size_t>(n, 16 * 1024);
            std::fill(buf, buf + n, 'h');
            return n;
          }
          std::unique_lock lk(t->held_mu_);
          t->held_cv_.wait_for(lk, 20s, [&] { return t->release_; });
          return 0;
        }
      };
      http::Response r;
      r.status = 200;
      r.source = std::make_unique<Held>(this);
      return r;
    });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, router_);
    url_ = "http://127.0.0.1:" + std::to_string(server_->start()) + "/clip.mp4?X-Amz-Signature=s3cr3t";
    cfg_.outbound.allow_private = true;
    cfg_.max_source_bytes = 1 << 20;
    cfg_.import_timeout_secs = 10;
  }
  void TearDown() override {
    server_->stop();
    WorkerRetry::TearDown();
  }
  std::string import_asset() {
    store::Asset a;
    a.id = core::new_id("ast");
    a.visibility = "public";
    a.owner_key_id = "key_test";
    a.account_id = "acc_test";
    if (!meta_->get_account(a.account_id)) meta_->create_account({a.account_id, "test", clock_.now_unix_ms()});
    a.created_at_ms = clock_.now_unix_ms();
    a.input_url = url_;
    meta_->create_import(a);
    return a.id;
  }
  std::shared_ptr<http::Router> router_ = std::make_shared<http::Router>();
  std::unique_ptr<http::Server> server_;
  std::string url_, body_ = std::string(64 * 1024, 'i');
  std::atomic<int> hits_{0};
  std::mutex held_mu_;
  std::condition_variable held_cv_;
  bool release_ = false;
  void release() {
    {
      std::lock_guard lk(held_mu_);
      release_ = true;
    }
    held_cv_.notify_all();
  }
};

TEST_F(WorkerImport, TheSourceIsFetchedThenTheJobRunsAsForAnUpload) {
  std::string id = import_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "hls_ready") << a->error_code.value_or("") << ": " << a->error_message.value_or("");
  EXPECT_EQ(a->source_bytes, int64_t(body_.size()));
  EXPECT_TRUE(a->uploaded_at_ms);
  EXPECT_FALSE(a->input_url) << "the URL is dropped once the source is stored";
  EXPECT_EQ(objects_->head("sources/" + id)->size, body_.size());
  EXPECT_EQ(runner_.count(fake::probe_run()), 1);
  EXPECT_EQ(hits_, 1);
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_TRUE(work_dir_empty());
}

TEST_F(WorkerImport, ARefusedAddressFailsTheAssetOnceAndStoresNothing) {
  cfg_.outbound.allow_private = false;
  std::string id = import_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "input_forbidden");
  EXPECT_EQ(a->error_message.value_or("").find("s3cr3t"), std::string::npos) << "the URL never reaches the asset";
  EXPECT_FALSE(objects_->head("sources/" + id));
  EXPECT_EQ(hits_, 0);
  EXPECT_EQ(runner_.count(fake::probe_run()), 0);
  EXPECT_EQ(meta_->pending_job_count(), 0);
}

// Deleted while the fetch runs (the server holds the body): the job's lock keeper sees
// the delete within its next tick, the transfer is aborted long before its timeout,
// and nothing is stored.
TEST_F(WorkerImport, AnAssetDeletedMidFetchStopsTheFetchAndStoresNothing) {
  cfg_.import_timeout_secs = 60;
  url_ = url_.substr(0, url_.find("/clip.mp4")) + "/slow.mp4";
  std::string id = import_asset();
  std::thread job([&] { run_once(); });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hits_ == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(hits_, 1);
  ASSERT_TRUE(meta_->mark_deleted(id, clock_.now_unix_ms()));
  ASSERT_TRUE(clock_.await_timed_waiters(1)) << "the lock keeper waits for its next tick";
  auto t0 = std::chrono::steady_clock::now();
  clock_.advance(1s);
  job.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s) << "aborted, not left to the timeout";
  release();
  EXPECT_FALSE(objects_->head("sources/" + id));
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_EQ(status(id), "deleted");
  EXPECT_EQ(runner_.count(fake::probe_run()), 0);
}

// A worker shutting down mid-fetch hands the job back at once (no attempt spent).
TEST_F(WorkerImport, StopMidFetchReleasesTheJobAndStoresNothing) {
  cfg_.import_timeout_secs = 60;
  url_ = url_.substr(0, url_.find("/clip.mp4")) + "/slow.mp4";
  std::string id = import_asset();
  std::thread job([&] { run_once(); });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hits_ == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(hits_, 1);
  auto t0 = std::chrono::steady_clock::now();
  stop_ = true;
  job.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s) << "aborted, not left to the timeout";
  release();
  EXPECT_FALSE(objects_->head("sources/" + id));
  EXPECT_NE(status(id), "failed");
  EXPECT_EQ(meta_->pending_job_count(), 1);
  stop_ = false;
  url_.clear();
  auto job_now = meta_->claim_job("w2", 1000, clock_.now_unix_ms());
  ASSERT_TRUE(job_now) << "released: claimable at once";
  EXPECT_EQ(job_now->attempts, 1) << "the stopped claim did not count";
}

TEST_F(WorkerImport, AnObjectStoreOutageIsRetriedNotBlamedOnTheInput) {
  std::string id = import_asset();
  objects_->fail_puts("sources/");
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed");
  EXPECT_EQ(meta_->pending_job_count(), 1);
  objects_->clear_failures();
  clock_.advance_ms(retry_backoff_ms(1) + 1000);
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "hls_ready");
}

TEST_F(WorkerRetry, AMissingSourceFailsTheAssetOnce) {
  std::string id = queued_asset();
  objects_->delete_prefix("sources/" + id);
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "source_missing");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_EQ(runner_.count(fake::probe_run()), 0);
  EXPECT_TRUE(work_dir_empty());
}

// Deleted while ffmpeg runs: the job stops and takes back what it had published.
TEST_F(WorkerRetry, AnAssetDeletedMidTranscodeStopsTheJobAndLeavesNothing) {
  std::string id = queued_asset();
  runner_.on(fake::ladder_run(),
             {.custom =
                  [&](const core::testing::Argv& argv, const core::ProcessOptions& o) {
                    core::testing::write_files(argv, fake::hls_files("240p", 1));
                    meta_->mark_deleted(id, clock_.now_unix_ms());
                    clock_.advance_ms(2000);  // the worker checks the asset at most once a second
                    return core::testing::run_until_cancelled(o);
                  }},
             1);
  ASSERT_TRUE(run_once());
  EXPECT_EQ(status(id), "deleted");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_TRUE(objects_->list("assets/" + id + "/").empty());
  EXPECT_FALSE(objects_->head("sources/" + id).has_value());
  EXPECT_TRUE(work_dir_empty());
}

// A worker too slow to heartbeat loses its lock to another: it stops and leaves the
// job and the asset to the new holder (no release, no failure, no retry lock).
TEST_F(WorkerRetry, ALostLockStopsTheJobAndLeavesItToTheNewHolder) {
  std::string id = queued_asset();
  std::optional<store::Job> stolen;
  runner_.on(fake::ladder_run(),
             {.custom =
                  [&](const core::testing::Argv&, const core::ProcessOptions& o) {
                    clock_.advance_ms(int64_t(cfg_.lock_timeout_secs) * 1000 + 1000);
                    stolen = meta_->claim_job("w2", 120'000, clock_.now_unix_ms());
                    return core::testing::run_until_cancelled(o);
                  }},
             1);
  ASSERT_TRUE(run_once());
  ASSERT_TRUE(stolen.has_value());
  EXPECT_EQ(stolen->attempts, 2);
  auto a = meta_->get_asset(id);
  EXPECT_NE(a->status, "failed");
  EXPECT_FALSE(a->error_code.has_value());
  EXPECT_EQ(meta_->pending_job_count(), 1);
  EXPECT_TRUE(meta_->heartbeat_job(stolen->id, "w2", 120'000, clock_.now_unix_ms())) << "w2 lost the job";
  EXPECT_TRUE(work_dir_empty());
}

TEST_F(WorkerRetry, ConfiguredLimitsRefuseASourceBeforeAnyFfmpegRuns) {
  cfg_.max_pixels = 320 * 200;  // the clip is 320x240
  std::string id = queued_asset();
  ASSERT_TRUE(run_once());
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "unsupported_input");
  EXPECT_NE(a->error_message.value_or("").find("320x240"), std::string::npos) << a->error_message.value_or("");
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 0);

  cfg_.max_pixels = 0;  // unset: the default bound
  cfg_.max_fps = 20;    // the clip is 25 fps
  id = queued_asset();
  ASSERT_TRUE(run_once());
  EXPECT_EQ(meta_->get_asset(id)->error_code.value_or(""), "unsupported_input");
  EXPECT_EQ(runner_.count(core::testing::program("ffmpeg")), 0);
}

TEST_F(WorkerRetry, StartRemovesOnlyJobDirsOlderThanAnyJob) {
  worker_.reset();
  clock_.set_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
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
  objects_->fail_puts("assets/");
  int attempts = 0;
  for (int i = 0; i < 10 && status(id) != "failed"; ++i) {
    if (run_once()) ++attempts;
    clock_.advance_ms(kMaxRetryBackoffMs + 1000);
  }
  // Five claims (the store's limit), each ended by the outage; then the store
  // abandons the job. The asset never carries the infrastructure error as if it
  // were the input's.
  EXPECT_EQ(attempts, 5);
  auto a = meta_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code.value_or(""), "transcode_failed");
  EXPECT_NE(a->error_code.value_or(""), "storage_failed");
  EXPECT_EQ(meta_->pending_job_count(), 0);
  EXPECT_EQ(runner_.count(fake::ladder_run()), 5);
}

}  // namespace
}  // namespace rend::worker
