#include "uploads/settings.h"

#include <gtest/gtest.h>

#include <map>

namespace rend::uploads {
namespace {

core::Env env(std::map<std::string, std::string> vars) { return core::Env(std::move(vars)); }

TEST(UploadSettings, ExpiryDefaultsToADayAndRefusesNonsenseNamingTheVariable) {
  EXPECT_EQ(parse(env({})).expiry_secs, 86400);
  EXPECT_EQ(parse(env({{"REND_UPLOAD_EXPIRY_SECS", "5"}})).expiry_secs, 5);
  for (auto bad : {"0", "-1", "abc", "31622401"}) {
    try {
      parse(env({{"REND_UPLOAD_EXPIRY_SECS", bad}}));
      ADD_FAILURE() << bad << " was accepted";
    } catch (const core::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("REND_UPLOAD_EXPIRY_SECS"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace rend::uploads
