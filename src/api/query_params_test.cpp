#include "api/query_params.h"

#include <gtest/gtest.h>

namespace rend::api {
namespace {

TEST(QueryParams, IntegersAreTheWholeStringAndInRange) {
  EXPECT_EQ(parse_int_strict("5", 1, 100), 5);
  EXPECT_EQ(parse_int_strict("100", 1, 100), 100);
  EXPECT_EQ(parse_int_strict("007", 1, 100), 7);
  for (const char* s :
       {"", "5abc", "abc5", "5.0", "+5", "-5", " 5", "5 ", "0x10", "1e1", "0", "101", "99999999999999999999999"})
    EXPECT_FALSE(parse_int_strict(s, 1, 100).has_value()) << '"' << s << '"';
  EXPECT_EQ(parse_int_strict("9223372036854775807", 0, INT64_MAX), INT64_MAX);
  EXPECT_FALSE(parse_int_strict("9223372036854775808", 0, INT64_MAX).has_value());
}

TEST(QueryParams, AParameterGivenTwiceIsAnError) {
  http::Request r;
  r.query = "limit=5&cursor=abc&x%3Dy=1";
  EXPECT_EQ(std::get<std::optional<std::string>>(single_query_param(r, "limit")), "5");
  EXPECT_EQ(std::get<std::optional<std::string>>(single_query_param(r, "missing")), std::nullopt);
  r.query = "limit=5&limit=6";
  ASSERT_TRUE(std::holds_alternative<std::string>(single_query_param(r, "limit")));
  EXPECT_NE(std::get<std::string>(single_query_param(r, "limit")).find("limit"), std::string::npos);
  r.query = "limit=5&l%69mit=6";  // the same name, percent-encoded
  EXPECT_TRUE(std::holds_alternative<std::string>(single_query_param(r, "limit")));
  r.query = "limit&limit=";
  EXPECT_TRUE(std::holds_alternative<std::string>(single_query_param(r, "limit")));
}

}  // namespace
}  // namespace rend::api
