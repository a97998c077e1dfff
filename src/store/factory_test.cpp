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
  auto pg = invalid_argument_message("postgres://rend:hunter2@db/rend");
  EXPECT_NE(pg.find("postgres is not yet supported"), std::string::npos) << pg;
  EXPECT_EQ(pg.find("hunter2"), std::string::npos) << pg;
  EXPECT_NE(invalid_argument_message("postgresql://db/rend").find("not yet supported"), std::string::npos);
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

}  // namespace
}  // namespace rend::store
