#include "core/json.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace rend::core
