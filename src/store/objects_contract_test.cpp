// The ObjectStore contract, written once and run against every backend.
// Adding a backend (e.g. S3) is one more entry in kBackends below.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include "core/crypto.h"
#include "store/factory.h"
#include "store/objects.h"
#include "store/s3/object_store.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

struct ObjectBackend {
  std::string name;
  // A fresh, empty store; `dir` is scratch space the backend may use.
  std::function<std::unique_ptr<ObjectStore>(const std::filesystem::path& dir)> open;
  friend void PrintTo(const ObjectBackend& b, std::ostream* os) { *os << b.name; }
};

// S3: a real S3-compatible service (s3rver in `make test`) at REND_TEST_S3_ENDPOINT,
// bucket REND_TEST_S3_BUCKET (default rend-test, created if missing). Credentials
// default to s3rver's built-in S3RVER/S3RVER. Every store gets a unique key prefix,
// so tests (and concurrent runs) never see each other's objects. Empty when the
// endpoint is unset (the caller skips; a failure under REND_REQUIRE_SERVICES=1).
std::optional<s3::S3Config> test_s3_config() {
  const std::string endpoint = testing::service_env("REND_TEST_S3_ENDPOINT");
  if (endpoint.empty()) return std::nullopt;
  auto env_or = [](const char* var, const char* fallback) {
    const char* v = std::getenv(var);
    return std::string(v && *v ? v : fallback);
  };
  s3::S3Config cfg;
  cfg.endpoint = endpoint;
  cfg.bucket = env_or("REND_TEST_S3_BUCKET", "rend-test");
  cfg.region = env_or("REND_TEST_S3_REGION", "us-east-1");
  cfg.access_key_id = env_or("REND_TEST_S3_ACCESS_KEY_ID", "S3RVER");
  cfg.secret_access_key = env_or("REND_TEST_S3_SECRET_ACCESS_KEY", "S3RVER");
  cfg.path_style = env_or("REND_TEST_S3_FORCE_PATH_STYLE", "1") != "0";
  cfg.key_prefix = "rend-test-" + core::hex_encode(core::random_bytes(8));
  s3::create_s3_bucket_if_missing(cfg);
  return cfg;
}

// Records a skip without returning from the caller: gtest then runs neither the
// test body nor anything that would use the missing store.
// Under REND_REQUIRE_SERVICES=1 service_env has already failed the test; that
// failure is made fatal so the body does not run against a missing store either.
void skip_without_service(const char* what) {
  if (::testing::Test::HasFailure()) GTEST_FAIL() << what << " is required";
  GTEST_SKIP() << what << " is not set; skipping the S3 run";
}
// Forwards to an S3 store and, when the test is done with it, deletes everything
// under its unique key prefix, so runs against a long-lived bucket leave nothing.
class SelfCleaningS3Store final : public ObjectStore {
 public:
  explicit SelfCleaningS3Store(s3::S3Config cfg) : inner_(s3::open_s3_object_store(cfg)) {
    prefix_ = cfg.key_prefix + "/";
    cfg.key_prefix.clear();
    root_ = s3::open_s3_object_store(cfg);
  }
  ~SelfCleaningS3Store() override {
    try {
      root_->delete_prefix(prefix_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleaning up " << prefix_ << ": " << e.what();
    }
  }
  std::unique_ptr<ObjectWriter> begin_put(const std::string& k) override { return inner_->begin_put(k); }
  void put_bytes(const std::string& k, std::string_view d) override { inner_->put_bytes(k, d); }
  void put_file(const std::string& k, const std::string& p) override { inner_->put_file(k, p); }
  std::unique_ptr<ObjectReader> get(const std::string& k) override { return inner_->get(k); }
  std::unique_ptr<PendingGet> start_get(const std::string& k) override { return inner_->start_get(k); }
  std::optional<ObjectInfo> head(const std::string& k) override { return inner_->head(k); }
  bool get_to_file(const std::string& k, const std::string& p) override { return inner_->get_to_file(k, p); }
  std::vector<std::string> list(const std::string& p) override { return inner_->list(p); }
  size_t delete_prefix(const std::string& p) override { return inner_->delete_prefix(p); }
  HealthStatus health() override { return inner_->health(); }
  ObjectStoreCapabilities capabilities() override { return inner_->capabilities(); }
  uint64_t multipart_min_part_bytes() const override { return inner_->multipart_min_part_bytes(); }
  std::string begin_multipart(const std::string& k) override { return inner_->begin_multipart(k); }
  StoredPart upload_part(const std::string& k, const std::string& h, uint32_t n, uint64_t off, uint64_t size,
                         const PartSource& body) override {
    return inner_->upload_part(k, h, n, off, size, body);
  }
  void complete_multipart(const std::string& k, const std::string& h, const std::vector<StoredPart>& parts) override {
    inner_->complete_multipart(k, h, parts);
  }
  void abort_multipart(const std::string& k, const std::string& h) override { inner_->abort_multipart(k, h); }

 private:
  std::unique_ptr<ObjectStore> inner_, root_;
  std::string prefix_;
};

const ObjectBackend kBackends[] = {
    {"fs", [](const std::filesystem::path& dir) { return open_fs_object_store((dir / "objects").string()); }},
    {"s3",
     [](const std::filesystem::path&) -> std::unique_ptr<ObjectStore> {
       auto cfg = test_s3_config();
       if (!cfg) {
         skip_without_service("REND_TEST_S3_ENDPOINT");
         return nullptr;
       }
       return std::make_unique<SelfCleaningS3Store>(std::move(*cfg));
     }},
};

std::string read_all(ObjectReader& r) {
  std::string out;
  char buf[7];  // small and odd, so reads straddle every boundary
  while (size_t n = r.read(buf, sizeof buf)) out.append(buf, n);
  return out;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ObjectsContract : public ::testing::TestWithParam<ObjectBackend> {
 protected:
  void SetUp() override { store_ = GetParam().open(dir_.path()); }

  std::optional<std::string> get_string(const std::string& key) {
    auto r = store_->get(key);
    if (!r) return std::nullopt;
    return read_all(*r);
  }

  testing::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectsContract, PutIsInvisibleUntilCommit) {
  auto w = store_->begin_put("assets/a1/master.m3u8");
  w->write("#EXTM3U\n", 8);
  w->write("x", 1);
  EXPECT_EQ(w->bytes_written(), 9u);
  EXPECT_FALSE(store_->head("assets/a1/master.m3u8"));
  EXPECT_EQ(store_->get("assets/a1/master.m3u8"), nullptr);
  EXPECT_TRUE(store_->list("assets/").empty());
  w->commit();

  auto info = store_->head("assets/a1/master.m3u8");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, 9u);
  auto r = store_->get("assets/a1/master.m3u8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 9u);
  EXPECT_EQ(read_all(*r), "#EXTM3U\nx");
}

TEST_P(ObjectsContract, WriterDestroyedWithoutCommitLeavesNothing) {
  {
    auto w = store_->begin_put("sources/ast_1");
    w->write("partial", 7);
  }
  EXPECT_FALSE(store_->head("sources/ast_1"));
  EXPECT_EQ(store_->get("sources/ast_1"), nullptr);
  EXPECT_TRUE(store_->list("sources/").empty());
}

TEST_P(ObjectsContract, AbortedReplaceKeepsOldObject) {
  store_->put_bytes("k", "old");
  {
    auto w = store_->begin_put("k");
    w->write("new!", 4);
  }
  EXPECT_EQ(get_string("k"), "old");
}

TEST_P(ObjectsContract, PutBytesOverwritesAndEmptyObjectsExist) {
  store_->put_bytes("a/b", "first version");
  store_->put_bytes("a/b", "second");
  EXPECT_EQ(get_string("a/b"), "second");
  store_->put_bytes("a/empty", "");
  ASSERT_TRUE(store_->head("a/empty"));
  EXPECT_EQ(store_->head("a/empty")->size, 0u);
  EXPECT_EQ(get_string("a/empty"), "");
}

TEST_P(ObjectsContract, LocalFileRoundTrip) {
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 131 % 251);
  auto src = dir_.path() / "src.bin";
  std::ofstream(src, std::ios::binary).write(data.data(), std::streamsize(data.size()));

  store_->put_file("sources/ast_2", src.string());
  EXPECT_EQ(store_->head("sources/ast_2")->size, data.size());
  auto dst = dir_.path() / "dst.bin";
  ASSERT_TRUE(store_->get_to_file("sources/ast_2", dst.string()));
  EXPECT_EQ(slurp(dst), data);

  EXPECT_FALSE(store_->get_to_file("sources/missing", (dir_.path() / "none").string()));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "none"));
  EXPECT_THROW(store_->put_file("sources/x", (dir_.path() / "no-such-file").string()), std::runtime_error);
  EXPECT_FALSE(store_->head("sources/x"));
}

TEST_P(ObjectsContract, ListIsSortedAndBoundedByPrefix) {
  for (const char* k : {"assets/a1/720p/seg_1.ts", "assets/a1/master.m3u8", "assets/a1/720p/index.m3u8",
                        "assets/a10/master.m3u8", "sources/a1"})
    store_->put_bytes(k, k);
  EXPECT_EQ(store_->list("assets/a1/"), (std::vector<std::string>{"assets/a1/720p/index.m3u8",
                                                                  "assets/a1/720p/seg_1.ts", "assets/a1/master.m3u8"}));
  EXPECT_EQ(store_->list("assets/").size(), 4u);
  EXPECT_TRUE(store_->list("assets/none/").empty());
  EXPECT_TRUE(store_->list("sources/a1/").empty()) << "a key is not a prefix";
}

TEST_P(ObjectsContract, DeletePrefixAndSingleKey) {
  for (const char* k : {"assets/a1/720p/seg_1.ts", "assets/a1/720p/seg_2.ts", "assets/a1/master.m3u8",
                        "assets/a10/master.m3u8", "sources/a1"})
    store_->put_bytes(k, "x");
  EXPECT_EQ(store_->delete_prefix("assets/a1/"), 3u);
  EXPECT_TRUE(store_->list("assets/a1/").empty());
  EXPECT_FALSE(store_->head("assets/a1/master.m3u8"));
  EXPECT_EQ(store_->list("assets/"), (std::vector<std::string>{"assets/a10/master.m3u8"}));
  EXPECT_EQ(store_->delete_prefix("assets/a1/"), 0u);

  EXPECT_EQ(store_->delete_prefix("sources/a1"), 1u);
  EXPECT_FALSE(store_->head("sources/a1"));
  EXPECT_EQ(store_->delete_prefix("sources/a1"), 0u);

  // A deleted prefix can be written again.
  store_->put_bytes("assets/a1/master.m3u8", "again");
  EXPECT_EQ(get_string("assets/a1/master.m3u8"), "again");
}

TEST_P(ObjectsContract, InvalidKeysAreRejected) {
  const std::vector<std::string> invalid{"",
                                         "../x",
                                         "/abs",
                                         "a//b",
                                         "a/./b",
                                         "a/../b",
                                         ".",
                                         "..",
                                         "a/",
                                         "a b",
                                         "a\\b",
                                         "caf\xc3\xa9",
                                         std::string(1025, 'a')};
  for (const auto& bad : invalid) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(is_valid_object_key(bad));
    EXPECT_THROW(store_->begin_put(bad), std::invalid_argument);
    EXPECT_THROW(store_->put_bytes(bad, "x"), std::invalid_argument);
    EXPECT_THROW(store_->get(bad), std::invalid_argument);
    EXPECT_THROW(store_->head(bad), std::invalid_argument);
    EXPECT_THROW(store_->get_to_file(bad, (dir_.path() / "out").string()), std::invalid_argument);
    EXPECT_THROW(store_->list(bad + "/"), std::invalid_argument);
    EXPECT_THROW(store_->delete_prefix(bad + "/"), std::invalid_argument);
  }
  EXPECT_THROW(store_->list("no-trailing-slash"), std::invalid_argument);
  EXPECT_THROW(store_->delete_prefix("../"), std::invalid_argument);
  EXPECT_THROW(store_->delete_prefix("/"), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "x"));
}

// get() in two halves (an edge starts a fill's GET on the thread that missed and a
// fill worker finishes it): the same answers as get(), finished on another thread; a
// started GET dropped unfinished leaves the store as it was.
TEST_P(ObjectsContract, StartedGetsAnswerAsGetDoes) {
  store_->put_bytes("assets/a1/720p/seg_00003.ts", "segment bytes");
  auto started = store_->start_get("assets/a1/720p/seg_00003.ts");
  auto missing = store_->start_get("assets/a1/720p/seg_00004.ts");
  store_->start_get("assets/a1/720p/seg_00003.ts").reset();  // dropped before its answer
  auto r = std::async(std::launch::async, [&] { return started->finish(); }).get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 13u);
  EXPECT_EQ(read_all(*r), "segment bytes");
  EXPECT_EQ(missing->finish(), nullptr);
  EXPECT_THROW(store_->start_get("../x")->finish(), std::invalid_argument);  // at start or at finish
  EXPECT_EQ(get_string("assets/a1/720p/seg_00003.ts"), "segment bytes");
}

TEST_P(ObjectsContract, ConcurrentReadersSeeOldOrNewNeverPartial) {
  if (!store_->capabilities().atomic_replace)
    GTEST_SKIP() << GetParam().name << ": this store declares that a replace is not atomic";
  // Versions differ in size and fill byte, so any mix or truncation is detectable.
  auto version = [](int v) { return std::string(size_t(64 * 1024 + v * 4099), char('A' + v % 26)); };
  store_->put_bytes("assets/a/seg.ts", version(0));

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto r = store_->get("assets/a/seg.ts");
        if (!r) {
          ++bad;
          continue;
        }
        std::string got = read_all(*r);
        int v = int((got.size() - 64 * 1024) / 4099);
        if (got.size() != r->size() || got != version(v)) ++bad;
        ++reads;
      }
    });
  }
  for (int v = 1; v <= 40; ++v) store_->put_bytes("assets/a/seg.ts", version(v));
  while (reads < 20) std::this_thread::yield();
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(get_string("assets/a/seg.ts"), version(40));
}

TEST_P(ObjectsContract, OpenReaderKeepsOldContentAcrossReplace) {
  store_->put_bytes("k", "old contents");
  auto r = store_->get("k");
  ASSERT_TRUE(r);
  store_->put_bytes("k", "new");
  EXPECT_EQ(read_all(*r), "old contents");
}

TEST_P(ObjectsContract, CapabilitiesAreAStableDeclaration) {
  // Asked twice (the S3 store asks its service once and remembers), and unchanged by use.
  auto before = store_->capabilities();
  store_->put_bytes("k", "v");
  EXPECT_EQ(store_->capabilities().atomic_replace, before.atomic_replace);
}

TEST_P(ObjectsContract, HealthyWhenUsable) {
  auto h = store_->health();
  EXPECT_TRUE(h.ok) << h.detail;
}

// ---- Multipart writes with caller-held state (resumable uploads). ----

PartSource string_source(const std::string& data) {
  return [&data, off = size_t(0)](char* buf, size_t n) mutable {
    const size_t k = std::min(n, data.size() - off);
    std::memcpy(buf, data.data() + off, k);
    off += k;
    return k;
  };
}

TEST_P(ObjectsContract, MultipartIsInvisibleUntilCompletedAndAssemblesThePartsInOrder) {
  const std::string a(store_->multipart_min_part_bytes(), 'a'), b = "the short last part";
  const std::string handle = store_->begin_multipart("sources/mp");
  std::vector<StoredPart> parts;
  parts.push_back(store_->upload_part("sources/mp", handle, 1, 0, a.size(), string_source(a)));
  parts.push_back(store_->upload_part("sources/mp", handle, 2, a.size(), b.size(), string_source(b)));
  EXPECT_EQ(parts[0].size, a.size());
  EXPECT_FALSE(parts[0].etag.empty());
  EXPECT_FALSE(store_->head("sources/mp"));
  EXPECT_TRUE(store_->list("sources/").empty());
  store_->complete_multipart("sources/mp", handle, parts);
  EXPECT_EQ(get_string("sources/mp"), a + b);
  // A retried completion (a crash before the caller recorded the first) succeeds.
  EXPECT_NO_THROW(store_->complete_multipart("sources/mp", handle, parts));
  EXPECT_EQ(get_string("sources/mp"), a + b);
}

TEST_P(ObjectsContract, MultipartPartSentAgainReplacesTheInterruptedAttempt) {
  const size_t min = store_->multipart_min_part_bytes();
  const std::string first(min, 'x'), again(min, 'y'), last = "tail";
  const std::string handle = store_->begin_multipart("sources/retry");
  store_->upload_part("sources/retry", handle, 1, 0, first.size(), string_source(first));
  std::vector<StoredPart> parts;
  parts.push_back(store_->upload_part("sources/retry", handle, 1, 0, again.size(), string_source(again)));
  parts.push_back(store_->upload_part("sources/retry", handle, 2, min, last.size(), string_source(last)));
  store_->complete_multipart("sources/retry", handle, parts);
  EXPECT_EQ(get_string("sources/retry"), again + last);
}

TEST_P(ObjectsContract, MultipartHandleWorksFromAnotherCallAndAbortLeavesNothing) {
  std::string handle = store_->begin_multipart("sources/gone");
  const std::string data = "bytes";
  // Only the handle string carries the state (another process would have it from the database).
  const std::string copy = std::string(handle.data(), handle.size());
  store_->upload_part("sources/gone", copy, 1, 0, data.size(), string_source(data));
  store_->abort_multipart("sources/gone", copy);
  EXPECT_NO_THROW(store_->abort_multipart("sources/gone", copy));  // idempotent
  EXPECT_FALSE(store_->head("sources/gone"));
  EXPECT_THROW(store_->complete_multipart("sources/gone", copy, {{data.size(), "x"}}), std::exception);
  EXPECT_FALSE(store_->head("sources/gone"));
}

INSTANTIATE_TEST_SUITE_P(Embedded, ObjectsContract, ::testing::ValuesIn(kBackends), testing::ParamName());

// ---- S3-specific: paths the shared contract's small objects do not reach. ----

class S3Objects : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = test_s3_config();
    if (!cfg) {
      skip_without_service("REND_TEST_S3_ENDPOINT");
      return;
    }
    cfg_ = *cfg;
    store_ = std::make_unique<SelfCleaningS3Store>(cfg_);
  }

  // Deterministic, position-dependent bytes: any lost, repeated or reordered
  // chunk shows up as a mismatch.
  static char byte_at(uint64_t i) { return char((i * 2654435761u) >> 13); }

  testing::TempDir dir_;
  s3::S3Config cfg_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(S3Objects, LargeWriterUsesMultipartAndReadsBackStreaming) {
  constexpr uint64_t kSize = 20 << 20;  // 8 + 8 + 4 MiB parts
  std::string chunk(1 << 20, '\0');
  auto w = store_->begin_put("sources/big");
  for (uint64_t off = 0; off < kSize; off += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = byte_at(off + i);
    w->write(chunk.data(), chunk.size());
  }
  EXPECT_FALSE(store_->head("sources/big")) << "parts must stay invisible until commit";
  w->commit();
  EXPECT_EQ(w->bytes_written(), kSize);
  ASSERT_EQ(store_->head("sources/big")->size, kSize);

  auto r = store_->get("sources/big");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), kSize);
  uint64_t pos = 0, mismatches = 0;
  std::vector<char> buf(100003);  // odd size: reads straddle curl's write boundaries
  while (size_t n = r->read(buf.data(), buf.size())) {
    for (size_t i = 0; i < n; ++i) mismatches += buf[i] != byte_at(pos + i);
    pos += n;
  }
  EXPECT_EQ(pos, kSize);
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(S3Objects, AbandonedMultipartWriterLeavesNothing) {
  {
    auto w = store_->begin_put("sources/abandoned");
    std::string data(9 << 20, 'x');  // more than one part: a multipart upload is in progress
    w->write(data.data(), data.size());
  }
  EXPECT_FALSE(store_->head("sources/abandoned"));
  EXPECT_EQ(store_->get("sources/abandoned"), nullptr);
  EXPECT_TRUE(store_->list("sources/").empty());
}

TEST_F(S3Objects, LargeFileRoundTripsThroughMultipart) {
  constexpr uint64_t kSize = (17 << 20) + 5;
  std::string data(kSize, '\0');
  for (uint64_t i = 0; i < kSize; ++i) data[i] = byte_at(i);
  auto src = dir_.path() / "src.bin";
  std::ofstream(src, std::ios::binary).write(data.data(), std::streamsize(data.size()));
  store_->put_file("sources/file", src.string());
  ASSERT_EQ(store_->head("sources/file")->size, kSize);
  auto dst = dir_.path() / "dst.bin";
  ASSERT_TRUE(store_->get_to_file("sources/file", dst.string()));
  EXPECT_TRUE(slurp(dst) == data);
}

TEST_F(S3Objects, ListAndDeleteFollowContinuationTokens) {
  auto cfg = cfg_;
  cfg.list_page_size = 2;  // five keys take three pages
  auto store = s3::open_s3_object_store(cfg);
  std::vector<std::string> keys;
  for (const char* k : {"assets/a/e", "assets/a/d", "assets/a/c/1", "assets/a/b", "assets/a/a"}) {
    store->put_bytes(k, k);
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(store->list("assets/a/"), keys);
  EXPECT_EQ(store->delete_prefix("assets/a/"), 5u);
  EXPECT_TRUE(store->list("assets/").empty());
}

TEST_F(S3Objects, KeyPrefixesIsolateStores) {
  auto other_cfg = cfg_;
  other_cfg.key_prefix += "-other";
  SelfCleaningS3Store other(other_cfg);
  store_->put_bytes("k/x", "mine");
  other.put_bytes("k/y", "theirs");
  EXPECT_EQ(store_->list("k/"), std::vector<std::string>{"k/x"});
  EXPECT_EQ(other.list("k/"), std::vector<std::string>{"k/y"});
  EXPECT_EQ(other.delete_prefix("k/"), 1u);
  EXPECT_TRUE(store_->head("k/x"));
}

TEST_F(S3Objects, ReaderDestroyedMidTransferCancelsIt) {
  std::string data(6 << 20, 'z');  // well beyond the reader's window
  store_->put_bytes("sources/cancel", data);
  {
    auto r = store_->get("sources/cancel");
    ASSERT_TRUE(r);
    char buf[1000];
    EXPECT_EQ(r->read(buf, sizeof buf), sizeof buf);
  }  // must return promptly, without draining the remaining bytes
  EXPECT_TRUE(store_->health().ok);
}

TEST_F(S3Objects, MissingBucketIsUnhealthy) {
  auto cfg = cfg_;
  cfg.bucket = "rend-no-such-bucket-" + core::hex_encode(core::random_bytes(4));
  auto h = s3::open_s3_object_store(cfg)->health();
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.detail.find(cfg.secret_access_key), std::string::npos) << h.detail;
}

}  // namespace
}  // namespace rend::store
