// The ObjectStore contract, written once and run against every backend.
// Adding a backend (e.g. S3) is one more entry in kBackends below.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "store/factory.h"
#include "store/objects.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

struct ObjectBackend {
  std::string name;
  // A fresh, empty store; `dir` is scratch space the backend may use.
  std::function<std::unique_ptr<ObjectStore>(const std::filesystem::path& dir)> open;
  friend void PrintTo(const ObjectBackend& b, std::ostream* os) { *os << b.name; }
};

const ObjectBackend kBackends[] = {
    {"fs", [](const std::filesystem::path& dir) { return open_fs_object_store((dir / "objects").string()); }},
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
  const std::vector<std::string> invalid{"",   "../x", "/abs", "a//b", "a/./b",        "a/../b",
                                        ".",  "..",   "a/",   "a b",  "a\\b", "caf\xc3\xa9", std::string(1025, 'a')};
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

TEST_P(ObjectsContract, ConcurrentReadersSeeOldOrNewNeverPartial) {
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

TEST_P(ObjectsContract, HealthyWhenUsable) {
  auto h = store_->health();
  EXPECT_TRUE(h.ok) << h.detail;
}

INSTANTIATE_TEST_SUITE_P(Embedded, ObjectsContract, ::testing::ValuesIn(kBackends), testing::ParamName());

}  // namespace
}  // namespace rend::store
