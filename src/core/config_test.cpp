#include "core/config.h"

#include <gtest/gtest.h>

using namespace rend::core;

TEST(Config, DeploymentMode) {
  EXPECT_FALSE(parse_deployment(Env(), "/d").production);
  EXPECT_EQ(parse_deployment(Env(), "/d").data_dir, "/d");
  EXPECT_TRUE(parse_deployment(Env(std::map<std::string, std::string>{{"REND_ENV", "production"}}), "/d").production);
  try {
    parse_deployment(Env(std::map<std::string, std::string>{{"REND_ENV", "staging"}}), "/d");
    ADD_FAILURE() << "REND_ENV=staging accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("REND_ENV"), std::string::npos);
  }
}

TEST(Config, BaseUrls) {
  EXPECT_NO_THROW(check_base_url("https://a.example.com", "X"));
  EXPECT_NO_THROW(check_base_url("http://127.0.0.1:4000/p", "X"));
  EXPECT_THROW(check_base_url("ftp://x", "X"), ConfigError);
  EXPECT_THROW(check_base_url("http://x/", "X"), ConfigError);
  EXPECT_EQ(url_for_bind({"0.0.0.0", 4000}), "http://127.0.0.1:4000");
  EXPECT_EQ(url_for_bind({"::1", 4100}), "http://[::1]:4100");
}
