#include "billing/store_usage_source.h"

#include "core/log.h"

namespace rend::billing {

std::vector<DeliveredUsage> StoreUsageSource::delivered(int64_t from_ms, int64_t to_ms) {
  std::vector<DeliveredUsage> out;
  for (const auto& d : analytics_.delivered_seconds(from_ms, to_ms)) {
    // get_asset returns deleted assets too: a video deleted after it was watched was
    // still delivered.
    auto asset = metadata_.get_asset(d.asset_id);
    if (!asset) {
      core::log::warn("billing_unknown_asset", {{"asset_id", d.asset_id},
                                                {"media_seconds", d.media_seconds},
                                                {"from_ms", from_ms},
                                                {"to_ms", to_ms}});
      continue;
    }
    out.push_back({asset->account_id, asset->billing_tier, d.media_seconds});
  }
  return out;
}

std::vector<StoredUsage> StoreUsageSource::stored() {
  std::vector<StoredUsage> out;
  for (auto& s : metadata_.stored_minutes())
    out.push_back({std::move(s.account_id), std::move(s.billing_tier), s.minutes});
  return out;
}

std::optional<int64_t> StoreUsageSource::earliest_delivery_ms() {
  // From time 0: the sync asks only before its first window (no cursor yet).
  return analytics_.earliest_unbilled_ingest_ms(0);
}

}  // namespace rend::billing
