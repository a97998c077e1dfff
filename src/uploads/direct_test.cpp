#include "uploads/direct.h"

#include <gtest/gtest.h>

namespace rend::uploads {
namespace {

const std::string kSecret(40, 's');

TEST(DirectToken, RoundTripsAndRefusesForgeriesAndExpiry) {
  const DirectGrant g{"upl_abc", 2000, "https://app.example"};
  const std::string t = sign_direct_token(kSecret, g);
  auto back = verify_direct_token(kSecret, t, 1999);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->upload_id, "upl_abc");
  EXPECT_EQ(back->expires_unix, 2000);
  EXPECT_EQ(back->origin, "https://app.example");
  EXPECT_FALSE(verify_direct_token(kSecret, t, 2000)) << "expired";
  EXPECT_FALSE(verify_direct_token(std::string(40, 'x'), t, 1000)) << "another secret";
  std::string tampered = sign_direct_token(kSecret, {"upl_other", 2000, "https://app.example"});
  tampered = tampered.substr(0, tampered.find('.')) + t.substr(t.find('.'));
  EXPECT_FALSE(verify_direct_token(kSecret, tampered, 1000)) << "payload swapped under a valid mac";
  EXPECT_FALSE(verify_direct_token(kSecret, "", 1000));
  EXPECT_FALSE(verify_direct_token(kSecret, "abc", 1000));
}

TEST(DirectToken, WebOrigins) {
  for (auto ok : {"https://app.example", "http://127.0.0.1:8080", "https://a-b.c.example:443"})
    EXPECT_TRUE(is_web_origin(ok)) << ok;
  for (auto bad : {"", "app.example", "https://", "https://app.example/", "https://app.example/x", "ftp://a",
                   "https://APP.example", "https://a:b:c", "https://a:", "null", "https://a b"})
    EXPECT_FALSE(is_web_origin(bad)) << bad;
}

}  // namespace
}  // namespace rend::uploads
