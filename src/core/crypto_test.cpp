#include "core/crypto.h"
#include "core/ids.h"

#include <gtest/gtest.h>

using namespace rend::core;

TEST(Crypto, Sha256KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, Base64Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");  // standard alphabet, not URL-safe
  EXPECT_EQ(hex_encode(sha256("abc")), sha256_hex("abc"));
}

TEST(Crypto, HmacRfc4231Case2) {
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, Base64UrlRoundTrip) {
  for (std::string s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\xfe\x00", 3)}) {
    auto enc = base64url_encode(s);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec);
    EXPECT_EQ(*dec, s);
  }
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab+c"));
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
}

TEST(Ids, ShapeAndValidation) {
  auto id = new_id("ast");
  EXPECT_TRUE(is_valid_id(id)) << id;
  EXPECT_NE(id, new_id("ast"));
  EXPECT_FALSE(is_valid_id("ast_../../etc"));
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id("ast_ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
}
