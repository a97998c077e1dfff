#pragma once
// The production UsageSource (docs/billing-autumn-v1.md, "Usage sync"): delivered
// seconds from the analytics store, attributed to the account and billing tier the
// metadata store records for each asset; stored minutes from the metadata store.
#include "billing/usage_source.h"
#include "store/analytics.h"
#include "store/metadata.h"

namespace rend::billing {

class StoreUsageSource final : public UsageSource {
 public:
  StoreUsageSource(store::MetadataStore& metadata, store::AnalyticsStore& analytics)
      : metadata_(metadata), analytics_(analytics) {}

  // Per asset delivered in the window: its owner account and billing tier. A deleted
  // asset still counts (its minutes were delivered). An asset the metadata store does
  // not know is logged and skipped: there is no account to bill, and billing it to
  // anyone else would be wrong. An empty tier is passed on; the sync bills it as the
  // lowest tier.
  std::vector<DeliveredUsage> delivered(int64_t from_ms, int64_t to_ms) override;
  std::vector<StoredUsage> stored() override;
  std::optional<int64_t> earliest_delivery_ms() override;

 private:
  store::MetadataStore& metadata_;
  store::AnalyticsStore& analytics_;
};

}  // namespace rend::billing
