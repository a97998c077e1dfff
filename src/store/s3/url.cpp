#include "store/s3/url.h"

#include <algorithm>
#include <stdexcept>

#include "core/percent.h"

namespace rend::store::s3 {

namespace {
// A DNS label for virtual-hosted style: S3 bucket names allowed there are
// lower-case letters, digits, '-' and '.'.
bool is_host_safe_bucket(const std::string& b) {
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; });
}
}  // namespace

std::string canonical_query(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [k, v] : params) {
    k = core::percent_encode(k);
    v = core::percent_encode(v);
  }
  // Sorted by encoded name (then value), byte order, as SigV4 specifies.
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

UrlBuilder::UrlBuilder(std::string_view endpoint, const std::string& bucket, bool path_style)
    : path_style_(path_style) {
  const auto scheme_end = endpoint.find("://");
  const std::string_view scheme = scheme_end == std::string_view::npos ? "" : endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    throw std::invalid_argument("S3_ENDPOINT must start with http:// or https://");
  std::string_view rest = endpoint.substr(scheme_end + 3);
  if (rest.find_first_of("?#@") != std::string_view::npos)
    throw std::invalid_argument("S3_ENDPOINT must be scheme://host[:port][/path], without credentials or a query");
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.empty()) throw std::invalid_argument("S3_ENDPOINT has no host");
  if (bucket.empty()) throw std::invalid_argument("S3 bucket name is empty");
  service_base_ = std::string(scheme) + "://" + std::string(authority) + std::string(path);

  if (path_style) {
    bucket_base_ =
        std::string(scheme) + "://" + std::string(authority) + std::string(path) + "/" + core::percent_encode(bucket);
  } else {
    if (!is_host_safe_bucket(bucket))
      throw std::invalid_argument("bucket name '" + bucket +
                                  "' cannot be used with virtual-hosted style; set S3_FORCE_PATH_STYLE=1");
    bucket_base_ = std::string(scheme) + "://" + bucket + "." + std::string(authority) + std::string(path);
  }
}

std::string UrlBuilder::bucket_url(std::string_view query) const {
  // Path style names the bucket by its path ("/bucket"); virtual-hosted needs "/".
  std::string url = path_style_ ? bucket_base_ : bucket_base_ + "/";
  if (!query.empty()) {
    url += '?';
    url += query;
  }
  return url;
}

std::string UrlBuilder::object_url(std::string_view key, std::string_view query) const {
  std::string url = bucket_base_ + "/" + core::percent_encode(key, core::PercentKeep::unreserved_and_slash);
  if (!query.empty()) {
    url += '?';
    url += query;
  }
  return url;
}

}  // namespace rend::store::s3
