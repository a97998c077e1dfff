#pragma once
// The billing tier of a video (issue 12): the class of its top rung's lines (the
// shorter side, as the ladder names rungs). One rule, used by the ladder
// (media::billing_tier_for) and by billing.
#include <string_view>

namespace rend::billing {

// ≤ 720 lines → "720p", ≤ 1080 → "1080p", ≤ 1440 → "2k", above → "4k". Zero or
// negative (unknown) → "720p", the lowest tier. Always one of kTiers.
std::string_view tier_for_height(int lines);

}  // namespace rend::billing
