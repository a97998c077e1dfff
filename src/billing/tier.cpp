#include "billing/tier.h"

namespace rend::billing {

std::string_view tier_for_height(int lines) {
  if (lines <= 720) return "720p";
  if (lines <= 1080) return "1080p";
  if (lines <= 1440) return "2k";
  return "4k";
}

}  // namespace rend::billing
