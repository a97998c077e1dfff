// Range and If-None-Match evaluation (RFC 9110 §14.2, §13.1.2): every branch of the
// grammar, the edges of the object, and malformed input.
#include "edge/conditional.h"

#include <gtest/gtest.h>

#include <string>

using namespace rend::edge;

namespace {

// "206 a-b", "416", "ignore": one string per outcome keeps the tables readable.
std::string range(std::string_view h, uint64_t size) {
  auto r = parse_range(h, size);
  switch (r.result) {
    case RangeParse::satisfiable: return "206 " + std::to_string(r.range.first) + "-" + std::to_string(r.range.last);
    case RangeParse::unsatisfiable: return "416";
    default: return "ignore";
  }
}

}  // namespace

TEST(Range, FirstLastAndOpenEnded) {
  EXPECT_EQ(range("bytes=0-0", 100), "206 0-0");
  EXPECT_EQ(range("bytes=0-99", 100), "206 0-99");
  EXPECT_EQ(range("bytes=10-20", 100), "206 10-20");
  EXPECT_EQ(range("bytes=10-", 100), "206 10-99");
  EXPECT_EQ(range("bytes=99-", 100), "206 99-99");
  EXPECT_EQ(range("bytes=50-1000", 100), "206 50-99") << "last is clamped to the end";
  EXPECT_EQ(range("bytes=50-99999999999999999999999", 100), "206 50-99") << "a huge last is still the end";
}

TEST(Range, Suffix) {
  EXPECT_EQ(range("bytes=-1", 100), "206 99-99");
  EXPECT_EQ(range("bytes=-30", 100), "206 70-99");
  EXPECT_EQ(range("bytes=-100", 100), "206 0-99");
  EXPECT_EQ(range("bytes=-500", 100), "206 0-99") << "a suffix longer than the object is the whole object";
  EXPECT_EQ(range("bytes=-99999999999999999999999", 100), "206 0-99");
  EXPECT_EQ(range("bytes=-0", 100), "416") << "a zero suffix selects nothing";
}

TEST(Range, Unsatisfiable) {
  EXPECT_EQ(range("bytes=100-", 100), "416");
  EXPECT_EQ(range("bytes=100-200", 100), "416");
  EXPECT_EQ(range("bytes=99999999999999999999999-", 100), "416");
  EXPECT_EQ(range("bytes=0-", 0), "416") << "nothing of an empty object can be selected";
  EXPECT_EQ(range("bytes=-5", 0), "416");
}

TEST(Range, UnitIsCaseInsensitiveAndListWhitespaceIsAllowed) {
  EXPECT_EQ(range("Bytes=1-2", 100), "206 1-2");
  EXPECT_EQ(range("BYTES=1-2", 100), "206 1-2");
  EXPECT_EQ(range("bytes= 1-2", 100), "206 1-2");
  EXPECT_EQ(range("bytes=1-2 ", 100), "206 1-2");
  EXPECT_EQ(range("bytes=1-2,", 100), "206 1-2") << "empty list elements are skipped";
  EXPECT_EQ(range("bytes=, 1-2 ,\t", 100), "206 1-2");
}

TEST(Range, SeveralRangesAreIgnored) {
  EXPECT_EQ(range("bytes=0-1,5-6", 100), "ignore");
  EXPECT_EQ(range("bytes=0-1, -5", 100), "ignore");
}

TEST(Range, MalformedIsIgnored) {
  for (const char* h :
       {"",           "bytes",      "bytes=",     "bytes=-",           "bytes=abc",   "bytes=1",     "bytes=5-1",
        "bytes=+1-2", "bytes=1-+2", "bytes=1 -2", "bytes=1- 2",        "bytes=0x1-2", "bytes=1-2-3", "items=0-1",
        "bytes 0-1",  "bytes=--1",  "bytes=,",    "bytes=1-2,garbage", "=0-1",        "bytes==0-1"}) {
    EXPECT_EQ(range(h, 100), "ignore") << "'" << h << "'";
  }
}

TEST(IfNoneMatch, ExactStrongTag) {
  EXPECT_TRUE(if_none_match_matches("\"abc\"", "\"abc\""));
  EXPECT_FALSE(if_none_match_matches("\"abd\"", "\"abc\""));
  EXPECT_FALSE(if_none_match_matches("\"abc", "\"abc\""));
  EXPECT_FALSE(if_none_match_matches("abc", "\"abc\"")) << "an entity tag is quoted";
  EXPECT_FALSE(if_none_match_matches("", "\"abc\""));
}

TEST(IfNoneMatch, StarMatchesAnyCurrentRepresentation) {
  EXPECT_TRUE(if_none_match_matches("*", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches(" * ", "\"abc\""));
}

TEST(IfNoneMatch, WeakComparisonIgnoresTheWeakPrefix) {
  EXPECT_TRUE(if_none_match_matches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches("\"abc\"", "W/\"abc\""));
  EXPECT_TRUE(if_none_match_matches("W/\"abc\"", "W/\"abc\""));
  EXPECT_FALSE(if_none_match_matches("w/\"abc\"", "\"abc\"")) << "the W/ prefix is case-sensitive";
  EXPECT_FALSE(if_none_match_matches("W/\"abd\"", "\"abc\""));
}

TEST(IfNoneMatch, Lists) {
  EXPECT_TRUE(if_none_match_matches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches("\"x\",W/\"abc\",\"y\"", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches(" ,\t\"x\" ,, \"abc\" , ", "\"abc\""));
  EXPECT_FALSE(if_none_match_matches("\"x\", \"y\"", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches("\"a,b\", \"c\"", "\"a,b\"")) << "a comma inside quotes is part of the tag";
  EXPECT_FALSE(if_none_match_matches("\"a,b\"", "\"a\""));
}

TEST(IfNoneMatch, MalformedMatchesNothingAfterIt) {
  EXPECT_FALSE(if_none_match_matches("garbage, \"abc\"", "\"abc\""));
  EXPECT_TRUE(if_none_match_matches("\"abc\", garbage", "\"abc\"")) << "a match before the junk stands";
  EXPECT_FALSE(if_none_match_matches("\"x\" \"abc\"", "\"abc\"")) << "elements are separated by commas";
  EXPECT_FALSE(if_none_match_matches("W/abc", "\"abc\""));
  EXPECT_FALSE(if_none_match_matches("\"ab\x01\"", "\"ab\x01\"")) << "control characters are not etagc";
  EXPECT_FALSE(if_none_match_matches("\"abc\"", "abc")) << "our own tag malformed: nothing matches";
}
