#include "billing/tier.h"

#include <gtest/gtest.h>

#include "billing/settings.h"

using rend::billing::tier_for_height;

TEST(Tier, ClassOfTheTopRungsLines) {
  EXPECT_EQ(tier_for_height(0), "720p");
  EXPECT_EQ(tier_for_height(240), "720p");
  EXPECT_EQ(tier_for_height(720), "720p");
  EXPECT_EQ(tier_for_height(721), "1080p");
  EXPECT_EQ(tier_for_height(900), "1080p");
  EXPECT_EQ(tier_for_height(1080), "1080p");
  EXPECT_EQ(tier_for_height(1081), "2k");
  EXPECT_EQ(tier_for_height(1440), "2k");
  EXPECT_EQ(tier_for_height(1441), "4k");
  EXPECT_EQ(tier_for_height(2160), "4k");
  EXPECT_EQ(tier_for_height(4320), "4k");
  EXPECT_EQ(tier_for_height(-5), "720p");
}

TEST(Tier, EveryTierHasAFeatureSlot) {
  for (int lines : {360, 1000, 1200, 3000}) EXPECT_GE(rend::billing::tier_index(tier_for_height(lines)), 0);
}
