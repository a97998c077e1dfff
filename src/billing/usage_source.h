#pragma once
// Where the usage sync reads usage (docs/billing-autumn-v1.md, "Usage sync"). The
// production adapter sits on the analytics store (delivered seconds by ingestion
// time) and the metadata store (stored minutes of each account's assets); tests
// script it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rend::billing {

struct DeliveredUsage {
  std::string account_id;
  std::string tier;  // "720p" … "4k" (billing::kTiers)
  double media_seconds = 0;
};

struct StoredUsage {
  std::string account_id;
  std::string tier;
  double minutes = 0;  // the summed durations of the account's held videos of that tier
};

class UsageSource {
 public:
  virtual ~UsageSource() = default;
  // Media seconds delivered (segment events 200/206, in proportion to the bytes sent)
  // among the events the analytics store INGESTED in [from_ms, to_ms). Ingestion
  // time, not play time: an event spooled by an edge and replayed late lands in the
  // window open when it arrives, so it is billed once and never dropped. Several
  // rows may name one (account, tier); the sync sums them.
  virtual std::vector<DeliveredUsage> delivered(int64_t from_ms, int64_t to_ms) = 0;
  // Minutes of video each account holds now (playable or hls_ready, not deleted).
  virtual std::vector<StoredUsage> stored() = 0;
  // Ingestion time of the earliest delivery ever recorded; none while there is none.
  virtual std::optional<int64_t> earliest_delivery_ms() = 0;
};

}  // namespace rend::billing
