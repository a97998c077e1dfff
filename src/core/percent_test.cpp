#include "core/percent.h"

#include <gtest/gtest.h>

#include <string>

using namespace rend::core;

TEST(PercentEncode, KeepsExactlyTheUnreservedSet) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += char(c);
  const std::string enc = percent_encode(all);
  std::string kept;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] == '%') {
      i += 2;
      continue;
    }
    kept += enc[i];
  }
  EXPECT_EQ(kept, "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~");
  EXPECT_EQ(enc.size(), kept.size() + 3 * (256 - kept.size()));
}

TEST(PercentEncode, UpperCaseHexForEveryOtherByte) {
  EXPECT_EQ(percent_encode("a b/c~"), "a%20b%2Fc~");
  EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(percent_encode(std::string_view("\0\xff", 2)), "%00%FF");
  EXPECT_EQ(percent_encode("a+b=c&d%"), "a%2Bb%3Dc%26d%25");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(PercentEncode, SlashKeptOnlyWhenAsked) {
  EXPECT_EQ(percent_encode("a/b c~d_e.f-g", PercentKeep::unreserved_and_slash), "a/b%20c~d_e.f-g");
  EXPECT_EQ(percent_encode("a/b+c=d", PercentKeep::unreserved), "a%2Fb%2Bc%3Dd");
  EXPECT_EQ(percent_encode("a/b?c", PercentKeep::unreserved_and_slash), "a/b%3Fc");
}

TEST(PercentDecode, LenientKeepsBrokenEscapes) {
  EXPECT_EQ(percent_decode("%2e%2E%2f"), "../");
  EXPECT_EQ(percent_decode("%zz%"), "%zz%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%41"), "A");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%2B", true), "+");
}

TEST(PercentDecode, StrictRefusesBrokenEscapes) {
  EXPECT_EQ(percent_decode_strict("p%40ss%2Fw%3Ard"), "p@ss/w:rd");
  EXPECT_EQ(percent_decode_strict("a+b"), "a+b");
  EXPECT_EQ(percent_decode_strict("%41"), "A");
  EXPECT_FALSE(percent_decode_strict("%"));
  EXPECT_FALSE(percent_decode_strict("%4"));
  EXPECT_FALSE(percent_decode_strict("%zz"));
  EXPECT_FALSE(percent_decode_strict("ok%g1"));
}

TEST(Percent, RoundTrip) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += char(c);
  EXPECT_EQ(percent_decode(percent_encode(all)), all);
  EXPECT_EQ(percent_decode_strict(percent_encode(all, PercentKeep::unreserved_and_slash)), all);
}
