#pragma once
// Request URLs for one bucket, in the exact form SigV4 signs.
//
// libcurl signs the path and query of the URL it is given. libcurl 7.88 (Debian 12)
// uses both verbatim as the canonical URI and canonical query string, while newer
// releases re-canonicalize them; building them already canonical (segments
// percent-encoded, parameters sorted, every parameter written as name=value) is a
// fixed point of both, so the signature is right either way.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rend::store::s3 {

// "a=1&b=&c=x%2Fy": sorted by name, names and values encoded as SigV4 wants
// (core::percent_encode: the unreserved set stays, upper-case hex), '=' always present
// (AWS canonicalizes "?delete" as "delete=", so that is what we send).
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);

class UrlBuilder {
 public:
  // endpoint: scheme://host[:port] with an optional base path (no query). Path
  // style puts the bucket in the path (MinIO, s3rver, most self-hosted stores);
  // virtual-hosted style prefixes it to the host (AWS's default, required for
  // newer buckets). Throws std::invalid_argument on a malformed endpoint.
  UrlBuilder(std::string_view endpoint, const std::string& bucket, bool path_style);

  // The service root, outside any bucket (ListBuckets).
  std::string service_url() const { return service_base_ + "/"; }
  // The bucket itself (ListObjectsV2, DeleteObjects, HeadBucket, CreateBucket).
  std::string bucket_url(std::string_view query = {}) const;
  // An object; `key` is the full S3 key (prefix included), already validated.
  std::string object_url(std::string_view key, std::string_view query = {}) const;

 private:
  std::string service_base_;  // scheme://host[:port][/path] of the endpoint, no trailing '/'
  std::string bucket_base_;   // URL of the bucket without a trailing '/'
  bool path_style_;
};

}  // namespace rend::store::s3
