#include "store/factory.h"

#include <gtest/gtest.h>

#include "store/test_util.h"

namespace rend::store {
namespace {

std::string invalid_argument_message(const std::string& url) {
  try {
    open_metadata_store(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Factory, SqliteUrlCreatesParentDirectories) {
  testing::TempDir dir;
  auto db = dir.path() / "nested" / "deeper" / "rend.db";
  auto store = open_metadata_store("sqlite://" + db.string());  // absolute: sqlite:///tmp/...
  store->migrate();
  EXPECT_TRUE(store->healthy());
  EXPECT_TRUE(std::filesystem::exists(db));
}

TEST(Factory, SqliteUrlMayBeRelative) {
  testing::TempDir dir;
  auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  {
    auto store = open_metadata_store("sqlite://.rend/dev/rend.db");
    store->migrate();
  }
  std::filesystem::current_path(old_cwd);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / ".rend/dev/rend.db"));
}

TEST(Factory, OtherSchemesAreRejectedWithoutEchoingSecrets) {
  auto mysql = invalid_argument_message("mysql://u:hunter2@db");
  EXPECT_NE(mysql.find("mysql"), std::string::npos) << mysql;
  EXPECT_EQ(mysql.find("hunter2"), std::string::npos) << mysql;
  EXPECT_NE(invalid_argument_message("rend.db").find("sqlite://"), std::string::npos);
  EXPECT_NE(invalid_argument_message("sqlite://").find("path"), std::string::npos);
}

TEST(Factory, FsObjectStoreAndMemoryCoordinator) {
  testing::TempDir dir;
  auto objects = open_fs_object_store((dir.path() / "objects").string());
  objects->put_bytes("a/b", "x");
  EXPECT_TRUE(objects->head("a/b"));
  EXPECT_TRUE(make_memory_coordinator()->rate_limit("k", 1, 1, 1).allowed);
}

TEST(Factory, BackendsFollowTheConfiguration) {
  testing::TempDir dir;
  Settings cfg;
  cfg.data_dir = dir.path().string();
  cfg.database_url = "sqlite://" + (dir.path() / "rend.db").string();
  cfg.object_store_dir = (dir.path() / "objects").string();
  EXPECT_EQ(describe_backends(cfg), "metadata=sqlite objects=dir coordination=in-process analytics=sqlite");
  auto objects = open_object_store(cfg);
  objects->put_bytes("k", "v");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "objects" / "k"));
  auto analytics = open_analytics_store(cfg);
  analytics->ensure_schema();
  EXPECT_TRUE(analytics->healthy());
  EXPECT_TRUE(open_coordinator(cfg)->healthy());

  cfg.database_url = "postgres://rend:hunter2@db.example/rend";
  cfg.s3.endpoint = "http://127.0.0.1:9";
  cfg.s3.bucket = "b";
  cfg.redis_url = "redis://127.0.0.1:9";
  cfg.clickhouse.url = "http://127.0.0.1:9";
  auto d = describe_backends(cfg);
  EXPECT_EQ(d, "metadata=postgres objects=s3 coordination=redis analytics=clickhouse");
  EXPECT_EQ(d.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace rend::store
