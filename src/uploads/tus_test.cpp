#include "uploads/tus.h"

#include <gtest/gtest.h>

namespace rend::uploads {
namespace {

TEST(TusSize, DigitsOnlyAndFitsInt64) {
  EXPECT_EQ(parse_size("0"), 0);
  EXPECT_EQ(parse_size("31457280"), 31457280);
  EXPECT_EQ(parse_size("9223372036854775807"), INT64_MAX);
  for (auto bad : {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "9223372036854775808", "12a"})
    EXPECT_FALSE(parse_size(bad)) << bad;
}

TEST(TusMetadata, DecodesPairsAndRefusesMalformedOnes) {
  auto m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential,visibility cHJpdmF0ZQ==");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("filename"), "world_domination_plan.pdf");
  EXPECT_EQ(m->at("is_confidential"), "");
  EXPECT_EQ(m->at("visibility"), "private");
  EXPECT_TRUE(parse_metadata("")->empty());
  EXPECT_FALSE(parse_metadata("a YQ==,a Yg==")) << "duplicate key";
  EXPECT_FALSE(parse_metadata("a not*base64")) << "bad value";
  EXPECT_FALSE(parse_metadata("a YQ")) << "missing padding";
  EXPECT_FALSE(parse_metadata(",a YQ==")) << "empty key";
  EXPECT_FALSE(parse_metadata("k\x01 YQ==")) << "control character in key";
}

TEST(TusChecksum, AlgorithmAndBase64Digest) {
  auto c = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->algorithm, "sha1");
  EXPECT_EQ(c->digest.size(), 20u);
  EXPECT_FALSE(parse_checksum("sha1"));
  EXPECT_FALSE(parse_checksum("sha1 !!!!"));
  EXPECT_FALSE(parse_checksum(" Kq5sNclPz7QV2+lfQIuc6R7oRu0="));
}

TEST(TusSha1, MatchesTheKnownDigest) {
  Sha1 h;
  h.update("hello ", 6);
  h.update("world", 5);
  // sha1("hello world") = 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
  EXPECT_EQ(h.digest(), *base64_decode("Kq5sNclPz7QV2+lfQIuc6R7oRu0="));
}

TEST(TusDate, ImfFixdate) { EXPECT_EQ(http_date(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT"); }

TEST(TusBase64, Strict) {
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode("YWJj"), "abc");
  // Non-zero bits after the last byte (found by fuzz_tus_headers): not canonical.
  EXPECT_EQ(base64_decode("hdU="), std::string("\x85\xd5"));
  EXPECT_FALSE(base64_decode("hdX="));
  EXPECT_FALSE(base64_decode("YR=="));
  EXPECT_EQ(base64_decode(""), "");
  for (auto bad : {"YWI", "Y=I=", "YW-=", "=YWI", "YWJj===="}) EXPECT_FALSE(base64_decode(bad)) << bad;
}

}  // namespace
}  // namespace rend::uploads
