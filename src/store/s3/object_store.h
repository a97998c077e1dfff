#pragma once
// ObjectStore on an S3-compatible service: AWS S3 (virtual-hosted or path style),
// MinIO, s3rver, and anything else speaking the same REST API with SigV4.
//
// Semantics match objects.h through S3's own guarantees: a PutObject or a
// CompleteMultipartUpload replaces an object atomically and readers see the old
// or the new version, so a writer only has to keep everything invisible until
// commit(): it buffers up to one part, and once the data outgrows that it streams
// parts of a multipart upload, which S3 does not expose until it is completed
// (and which the writer aborts when destroyed uncommitted).
#include <cstdint>
#include <memory>
#include <string>

#include "store/objects.h"

namespace rend::store::s3 {

struct S3Config {
  std::string endpoint;              // S3_ENDPOINT, e.g. http://127.0.0.1:9100 or https://s3.us-east-1.amazonaws.com
  std::string region = "us-east-1";  // S3_REGION; part of the signature, so it must match the bucket's
  std::string bucket;
  std::string access_key_id, secret_access_key;  // empty id: anonymous (unsigned) requests
  bool path_style = true;                        // S3_FORCE_PATH_STYLE; virtual-hosted (bucket.host) when false
  std::string health_url;                        // OBJECT_STORE_HEALTH_URL, optional; HeadBucket when empty
  std::string key_prefix;  // optional; every key is stored under it ("tenant/" or a test's unique prefix)

  // Tuning, mostly for tests. Multipart part size: S3 requires >= 5 MiB for every
  // part but the last; it is also the writer's memory bound.
  uint64_t part_size = 8 << 20;
  // max-keys per ListObjectsV2 page (S3 caps it at 1000); tests lower it to
  // exercise continuation tokens without creating a thousand objects.
  int list_page_size = 1000;
};

// Validates the configuration (std::invalid_argument, never echoing secrets);
// does not contact the service (health() does).
std::unique_ptr<ObjectStore> open_s3_object_store(S3Config cfg);

// Creates cfg.bucket unless it exists (for tests and local stacks; production
// buckets are provisioned outside Rend). Throws std::runtime_error on failure.
void create_s3_bucket_if_missing(const S3Config& cfg);

}  // namespace rend::store::s3
