#include "core/log.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace rend::core::log {
namespace {

std::vector<std::string> lines_of(const std::string& out) {
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(out.substr(at, nl - at));
  return lines;
}

TEST(LogAsync, EveryQueuedLineIsWrittenInOrderByFlush) {
  testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 500; ++i)
        write_async(Level::info, "async_test_line", {{"thread", t}, {"i", i}, {"text", std::string_view("a\"b")}});
    });
  for (auto& th : threads) th.join();
  flush();
  auto lines = lines_of(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 2000u);
  std::vector<int> next(4, 0);
  for (const auto& l : lines) {
    ASSERT_EQ(l.rfind("{\"ts\":\"", 0), 0u) << l;  // whole lines, never interleaved
    ASSERT_NE(l.find("\"event\":\"async_test_line\""), std::string::npos) << l;
    ASSERT_NE(l.find("\"text\":\"a\\\"b\"}"), std::string::npos) << l;
    int t = l[l.find("\"thread\":") + 9] - '0';
    ASSERT_NE(l.find("\"i\":" + std::to_string(next[t]) + ","), std::string::npos) << "out of order: " << l;
    ++next[t];
  }
}

TEST(LogAsync, FlushWithNothingQueuedReturns) {
  flush();
  flush();
}

TEST(LogAsync, SameLineAsWrite) {
  auto expected = format(Level::warn, "same_line", std::vector<Field>{{"k", 1}});
  testing::internal::CaptureStderr();
  write_async(Level::warn, "same_line", {{"k", 1}});
  flush();
  auto out = testing::internal::GetCapturedStderr();
  // The timestamps may differ by a millisecond: compare what follows them.
  ASSERT_EQ(out.size(), expected.size());
  EXPECT_EQ(out.substr(out.find("\"level\"")), expected.substr(expected.find("\"level\"")));
}

}  // namespace
}  // namespace rend::core::log
