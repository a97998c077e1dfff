#include "core/env.h"

#include <gtest/gtest.h>

using namespace rend::core;

TEST(Env, EmptyMeansUnset) {
  Env env(std::map<std::string, std::string>{{"A", ""}, {"B", "x"}});
  EXPECT_FALSE(env.get("A"));
  EXPECT_EQ(env.get_or("A", "d"), "d");
  EXPECT_EQ(env.get_or("B", "d"), "x");
}

TEST(Env, BadIntegerNamesTheVariable) {
  Env env(std::map<std::string, std::string>{{"REND_MAX_UPLOAD_BYTES", "12x"}});
  try {
    env.get_u64("REND_MAX_UPLOAD_BYTES", 1);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("REND_MAX_UPLOAD_BYTES"), std::string::npos);
  }
}

TEST(Env, Bools) {
  Env env(std::map<std::string, std::string>{{"T", "true"}, {"F", "0"}, {"X", "maybe"}});
  EXPECT_TRUE(env.get_bool("T", false));
  EXPECT_FALSE(env.get_bool("F", true));
  EXPECT_TRUE(env.get_bool("MISSING", true));
  EXPECT_THROW(env.get_bool("X", true), ConfigError);
}

TEST(Env, ListsAreTrimmed) {
  Env env(std::map<std::string, std::string>{{"L", " a, b ,,c "}});
  EXPECT_EQ(env.get_list("L"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Env, HostPort) {
  auto hp = parse_host_port("127.0.0.1:4000", "V");
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 4000);
  EXPECT_EQ(parse_host_port("[::1]:80", "V").host, "::1");
  EXPECT_THROW(parse_host_port("nope", "V"), ConfigError);
  EXPECT_THROW(parse_host_port("h:99999", "V"), ConfigError);
}
