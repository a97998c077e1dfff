#pragma once
// Playback telemetry settings (SPEC §7): the edge's sender and the API's ingest limits.
#include <cstdint>
#include <string>

#include "core/config.h"

namespace rend::telemetry {

// The edge side: queue, batches, spool and where they go.
struct SenderSettings {
  bool enabled = true;              // REND_EDGE_TELEMETRY_ENABLED
  std::string ingest_url;           // REND_EDGE_TELEMETRY_INGEST_URL, default {control plane}/internal/telemetry
  std::string token;                // REND_INTERNAL_TELEMETRY_TOKEN
  uint64_t queue_capacity = 0;      // REND_EDGE_TELEMETRY_QUEUE_CAPACITY, 100000 events
  uint64_t batch_size = 0;          // REND_EDGE_TELEMETRY_BATCH_SIZE, 1000 events
  uint64_t flush_interval_ms = 0;   // REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS (fractions allowed), 1 s
  uint64_t request_timeout_ms = 0;  // REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS, 5 s
  std::string spool_dir;            // REND_EDGE_TELEMETRY_SPOOL_DIR, {data_dir}/telemetry-spool
  uint64_t spool_max_bytes = 0;     // REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES, 1 GiB
};
// `control_plane_url` (REND_CONTROL_PLANE_URL, may be empty) gives the default ingest URL.
SenderSettings parse_sender(const core::Env& env, const core::Deployment& deployment,
                            const std::string& control_plane_url);

// The API side: who may post batches and how large one may be.
struct IngestSettings {
  std::string token;             // REND_INTERNAL_TELEMETRY_TOKEN: edges' bearer for /internal/telemetry
  uint64_t max_batch_bytes = 0;  // REND_TELEMETRY_MAX_BATCH_BYTES, 8 MiB: larger batches get 413
  // Where answered batches wait for a ClickHouse insert (telemetry/ingest_buffer.h):
  // {data_dir}/telemetry-journal when the analytics store is ClickHouse; empty (each
  // batch answered after its own insert) for the embedded store. Set by the role.
  std::string journal_dir;
};
IngestSettings parse_ingest(const core::Env& env, const core::Deployment& deployment);

}  // namespace rend::telemetry
