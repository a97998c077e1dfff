#include "core/config.h"

#include <gtest/gtest.h>

using namespace rend::core;

namespace {
const std::string kSecret(40, 's');
Env base(std::map<std::string, std::string> extra = {}) {
  extra.emplace("REND_PLAYBACK_SIGNING_SECRET", kSecret);
  return Env(std::move(extra));
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, EmbeddedDefaultsLiveUnderTheDataDir) {
  auto c = ApiConfig::from_env(base(), "/d");
  EXPECT_EQ(c.common.database_url, "sqlite:///d/rend.db");
  EXPECT_EQ(c.common.object_store_dir, "/d/objects");
  EXPECT_EQ(c.bind.port, 4000);
  EXPECT_EQ(c.public_base_url, "http://127.0.0.1:4000");
  EXPECT_EQ(c.playback_base_url, "http://127.0.0.1:4100");
  auto e = EdgeConfig::from_env(base(), "/d");
  EXPECT_EQ(e.bind.port, 4100);
  EXPECT_EQ(e.cache_dir, "/d/edge-cache");
  auto w = WorkerConfig::from_env(base(), "/d");
  EXPECT_EQ(w.work_dir, "/d/work");
  EXPECT_EQ(w.poll_interval_secs, 2u);
}

TEST(Config, ErrorsNameTheVariable) {
  EXPECT_NE(error_of([] { ApiConfig::from_env(Env(), "/d"); }).find("REND_PLAYBACK_SIGNING_SECRET"), std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_API_BIND_ADDR", "x"}}), "/d"); }).find("REND_API_BIND_ADDR"),
            std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_MAX_UPLOAD_BYTES", "0"}}), "/d"); })
                .find("REND_MAX_UPLOAD_BYTES"),
            std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_PLAYBACK_BASE_URL", "ftp://x"}}), "/d"); })
                .find("REND_PLAYBACK_BASE_URL"),
            std::string::npos);
  EXPECT_NE(error_of([] { WorkerConfig::from_env(base({{"REND_MEDIA_JOB_LOCK_TIMEOUT_SECS", "1"}}), "/d"); })
                .find("REND_MEDIA_JOB_LOCK_TIMEOUT_SECS"),
            std::string::npos);
}

TEST(Config, ProductionRefusesEmbeddedBackends) {
  auto msg = error_of([] { ApiConfig::from_env(base({{"REND_ENV", "production"}}), "/d"); });
  EXPECT_NE(msg.find("DATABASE_URL"), std::string::npos) << msg;
  msg = error_of([] {
    ApiConfig::from_env(base({{"REND_ENV", "production"}, {"DATABASE_URL", "postgres://db/rend"}}), "/d");
  });
  EXPECT_NE(msg.find("S3_ENDPOINT"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_ENV", "staging"}}), "/d"); }).find("REND_ENV"),
            std::string::npos);
}
