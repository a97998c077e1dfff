#include "store/objects.h"

#include <gtest/gtest.h>

namespace rend::store {
namespace {

TEST(ObjectKey, AcceptsRendLayout) {
  for (const char* k : {"sources/ast_abc", "assets/ast_abc/master.m3u8", "assets/ast_abc/720p/seg_12.ts",
                        "assets/x/poster.jpg", "a", "A-Z.0_9", "...", ".hidden"})
    EXPECT_TRUE(is_valid_object_key(k)) << k;
  EXPECT_TRUE(is_valid_object_key(std::string(1024, 'a')));
}

TEST(ObjectKey, RejectsTraversalAndOddShapes) {
  for (const char* k : {"", "/", "../x", "/abs", "a//b", "a/./b", "a/..", "./a", "a/", "a b", "a\nb", "a%2fb", "ü"})
    EXPECT_FALSE(is_valid_object_key(k)) << k;
  EXPECT_FALSE(is_valid_object_key(std::string_view("a\0b", 3)));
  EXPECT_FALSE(is_valid_object_key(std::string(1025, 'a')));
}

}  // namespace
}  // namespace rend::store
