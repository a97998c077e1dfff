#include "core/strings.h"

#include <gtest/gtest.h>

using rend::core::trim_ows;

TEST(Strings, TrimOwsRemovesOnlySpacesAndTabsAtTheEnds) {
  EXPECT_EQ(trim_ows(" \t a b \t "), "a b");
  EXPECT_EQ(trim_ows("ab"), "ab");
  EXPECT_EQ(trim_ows(" \t "), "");
  EXPECT_EQ(trim_ows(""), "");
  // CR, LF and other whitespace are not OWS: a header value carrying them is malformed,
  // and the caller must see it.
  EXPECT_EQ(trim_ows("\r\na\n"), "\r\na\n");
  EXPECT_EQ(trim_ows("\va\f"), "\va\f");
  static_assert(trim_ows("  x ") == "x");
}
