#include "core/json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

namespace rend::core {
namespace {

TEST(ParseJsonStrict, AcceptsOrdinaryDocuments) {
  auto v = parse_json_strict(R"({"visibility":"private","a":{"b":[1,{"c":true}]},"d":null})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->at("visibility").as_string(), "private");
  EXPECT_TRUE(parse_json_strict("[]"));
  // The same key in two different objects is not a duplicate.
  EXPECT_TRUE(parse_json_strict(R"({"a":{"k":1},"b":{"k":2},"k":3})"));
}

TEST(ParseJsonStrict, RefusesARepeatedKeyAtAnyDepth) {
  EXPECT_FALSE(parse_json_strict(R"({"visibility":"public","visibility":"private"})"));
  EXPECT_FALSE(parse_json_strict(R"({"a":[{"x":1,"y":2,"x":3}]})"));
  // Keys compare after unescaping: "\u0061" is "a".
  EXPECT_FALSE(parse_json_strict(R"({"a":1,"\u0061":2})"));
}

TEST(ParseJsonStrict, RefusesMalformedAndTooDeepInput) {
  EXPECT_FALSE(parse_json_strict(R"({"a":1} trailing)"));
  EXPECT_FALSE(parse_json_strict(R"({"a":)"));
  EXPECT_FALSE(parse_json_strict(std::string(100000, '[')));
  EXPECT_FALSE(parse_json_strict(std::string(40, '[') + std::string(40, ']')));
}

std::string num(double d) { return serialize_json(boost::json::value(d)); }

TEST(SerializeJson, IntegralDoublesPrintAsIntegers) {
  EXPECT_EQ(num(12.0), "12");
  EXPECT_EQ(num(1.0), "1");
  EXPECT_EQ(num(0.0), "0");
  EXPECT_EQ(num(-0.0), "0");
  EXPECT_EQ(num(-3.0), "-3");
  EXPECT_EQ(num(1e15), "1000000000000000");
}

TEST(SerializeJson, OtherDoublesPrintShortestRoundTripWithoutExponent) {
  EXPECT_EQ(num(12.5), "12.5");
  EXPECT_EQ(num(0.25), "0.25");
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(0.57), "0.57");
  EXPECT_EQ(num(10.033), "10.033");
  EXPECT_EQ(num(-2.75), "-2.75");
  EXPECT_EQ(num(0.000125), "0.000125");
  for (double d : {0.1, 1.0 / 3, 10.033333333333333, 123456.789, 2.5e-5}) {
    // strtod rounds correctly (Boost 1.81's parser may not, so it is no judge here).
    std::string text = num(d);
    EXPECT_EQ(text.find_first_of("eE"), std::string::npos) << text;
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), d) << text;
  }
}

TEST(SerializeJson, ExtremeMagnitudesStayValidJson) {
  // Beyond what a person reads as a plain number, the exponent is kept (valid JSON).
  EXPECT_EQ(num(1e300), "1e+300");
  EXPECT_EQ(num(1.5e-9), "1.5e-09");
  // JSON has no NaN or infinity: null, never a token a parser refuses.
  EXPECT_EQ(num(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(num(std::numeric_limits<double>::infinity()), "null");
}

TEST(SerializeJson, MatchesBoostForEverythingButDoubles) {
  boost::json::value v = {{"s", "a\"b\\c\n\x01\u00e9/"},
                          {"i", -7},
                          {"u", std::uint64_t(18446744073709551615ull)},
                          {"b", true},
                          {"n", nullptr},
                          {"a", boost::json::array{1, "x", boost::json::object{}, boost::json::array{}}},
                          {"o", {{"k", false}}}};
  EXPECT_EQ(serialize_json(v), boost::json::serialize(v));
  EXPECT_EQ(serialize_json(boost::json::value{{"d", 1.0}, {"p", 0.5}}), R"({"d":1,"p":0.5})");
}

}  // namespace
}  // namespace rend::core
