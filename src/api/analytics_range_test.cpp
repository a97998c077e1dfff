#include "api/analytics_range.h"

#include <gtest/gtest.h>

namespace rend::api {
namespace {

constexpr int64_t kT = 1'800'000'000'000;  // 2027-01-15T08:00:00Z
constexpr int64_t kDay = 86'400'000;

TEST(AnalyticsRange, ParsesUnixMillisecondsAndRfc3339) {
  EXPECT_EQ(parse_time_ms("1800000000000"), kT);
  EXPECT_EQ(parse_time_ms("0"), 0);
  EXPECT_EQ(parse_time_ms("2027-01-15T08:00:00Z"), kT);
  EXPECT_EQ(parse_time_ms("2027-01-15t08:00:00z"), kT);
  EXPECT_EQ(parse_time_ms("2027-01-15 08:00:00Z"), kT);
  EXPECT_EQ(parse_time_ms("2027-01-15T08:00:00.25Z"), kT + 250);
  EXPECT_EQ(parse_time_ms("2027-01-15T08:00:00.123999Z"), kT + 123);
  EXPECT_EQ(parse_time_ms("2027-01-15T09:30:00+01:30"), kT);
  EXPECT_EQ(parse_time_ms("2027-01-15T07:00:00-01:00"), kT);
  EXPECT_EQ(parse_time_ms("2027-01-15T09:00:00 01:00"), kT);  // '+' decoded as a space
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
}

TEST(AnalyticsRange, RefusesWhatIsNotATime) {
  for (const char* s : {"", "-1", "1e12", "12345678901234567", "2027-01-15", "2027-01-15T08:00:00", "2027-01-15T08:00Z",
                        "2027-13-01T00:00:00Z", "2027-02-29T00:00:00Z", "2027-01-15T24:00:00Z", "2027-01-15T08:00:00.Z",
                        "2027-01-15T08:00:00+1:00", "2027-01-15T08:00:00Zjunk", "yesterday"})
    EXPECT_FALSE(parse_time_ms(s)) << s;
}

TEST(AnalyticsRange, DefaultsToTheLastDay) {
  auto r = std::get<TimeRange>(parse_time_range(std::nullopt, std::nullopt, kT, kDay));
  EXPECT_EQ(r.from_ms, kT - kDay);
  EXPECT_EQ(r.to_ms, kT);
  r = std::get<TimeRange>(parse_time_range(std::string(""), std::string("1000000"), kT, kDay));
  EXPECT_EQ(r.from_ms, 0);  // clamped at 1970, not negative
  EXPECT_EQ(r.to_ms, 1000000);
  r = std::get<TimeRange>(parse_time_range(std::string("5"), std::nullopt, kT, kDay));
  EXPECT_EQ(r.from_ms, 5);
  EXPECT_EQ(r.to_ms, kT);
}

TEST(AnalyticsRange, RefusesEmptyOrBackwardRanges) {
  auto err = [](const char* from, const char* to) {
    auto r = parse_time_range(std::string(from), std::string(to), kT, kDay);
    auto* e = std::get_if<std::string>(&r);
    return e ? *e : std::string();
  };
  EXPECT_EQ(err("10", "10"), "from must be before to");
  EXPECT_EQ(err("11", "10"), "from must be before to");
  EXPECT_EQ(err("soon", "10"), "from must be unix milliseconds or an RFC 3339 time (e.g. 2027-01-15T08:00:00Z)");
  EXPECT_EQ(err("1", "later"), "to must be unix milliseconds or an RFC 3339 time (e.g. 2027-01-15T08:00:00Z)");
  EXPECT_EQ(err("1969-12-31T23:59:59Z", "10"), "from must not be before 1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace rend::api
