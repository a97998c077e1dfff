// Behaviour specific to the directory layout (the shared contract is in
// objects_contract_test.cpp).
#include "store/fs/object_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "store/test_util.h"

namespace rend::store::fs {
namespace {

namespace stdfs = std::filesystem;

size_t temp_files(const stdfs::path& root) {
  return size_t(std::distance(stdfs::directory_iterator(root / FsObjectStore::kTempDir), stdfs::directory_iterator()));
}

TEST(FsObjectStore, AbortedAndCommittedWritersLeaveNoTempFiles) {
  testing::TempDir dir;
  FsObjectStore store(dir.path());
  {
    auto w = store.begin_put("sources/a");
    w->write("abc", 3);
    EXPECT_EQ(temp_files(dir.path()), 1u);
  }
  EXPECT_EQ(temp_files(dir.path()), 0u);
  EXPECT_FALSE(stdfs::exists(dir.path() / "sources"));
  store.put_bytes("sources/a", "abc");
  EXPECT_EQ(temp_files(dir.path()), 0u);
}

TEST(FsObjectStore, StaleTempFilesAreRemovedAtStartup) {
  testing::TempDir dir;
  stdfs::create_directories(dir.path() / ".tmp");
  std::ofstream(dir.path() / ".tmp" / "old.part") << "x";
  std::ofstream(dir.path() / ".tmp" / "fresh.part") << "x";
  stdfs::last_write_time(dir.path() / ".tmp" / "old.part", stdfs::file_time_type::clock::now() - std::chrono::hours(2));
  FsObjectStore store(dir.path());
  EXPECT_FALSE(stdfs::exists(dir.path() / ".tmp" / "old.part"));
  EXPECT_TRUE(stdfs::exists(dir.path() / ".tmp" / "fresh.part")) << "may be another process's upload in flight";
}

TEST(FsObjectStore, TempDirIsReservedAndNeverListed) {
  testing::TempDir dir;
  FsObjectStore store(dir.path());
  EXPECT_THROW(store.put_bytes(".tmp/x", "x"), std::invalid_argument);
  EXPECT_THROW(store.list(".tmp/"), std::invalid_argument);
  EXPECT_THROW(store.delete_prefix(".tmp/"), std::invalid_argument);
  auto w = store.begin_put("a/b");  // in flight
  store.put_bytes("a/c", "x");
  EXPECT_EQ(store.list("a/"), (std::vector<std::string>{"a/c"}));
}

TEST(FsObjectStore, DeletePrefixRemovesEmptiedDirectories) {
  testing::TempDir dir;
  FsObjectStore store(dir.path());
  store.put_bytes("assets/a1/720p/seg_1.ts", "x");
  store.put_bytes("assets/a2/master.m3u8", "x");
  EXPECT_EQ(store.delete_prefix("assets/a1/"), 1u);
  EXPECT_FALSE(stdfs::exists(dir.path() / "assets" / "a1"));
  EXPECT_TRUE(stdfs::exists(dir.path() / "assets" / "a2"));
  EXPECT_EQ(store.delete_prefix("assets/a2/master.m3u8"), 1u);
  EXPECT_FALSE(stdfs::exists(dir.path() / "assets"));
  EXPECT_TRUE(stdfs::exists(dir.path())) << "the root stays";
}

TEST(FsObjectStore, UnhealthyWhenRootIsGone) {
  testing::TempDir dir;
  FsObjectStore store(dir.path() / "root");
  EXPECT_TRUE(store.health().ok);
  stdfs::remove_all(dir.path() / "root");
  auto h = store.health();
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.detail.find("not writable"), std::string::npos) << h.detail;
}

}  // namespace
}  // namespace rend::store::fs
