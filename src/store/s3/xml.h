#pragma once
// The few S3 XML documents this backend reads and writes.
//
// No XML library: S3's responses here are flat, machine-generated documents whose
// only data we need is the text of a handful of leaf elements (<Key>, <Code>,
// <UploadId>, ...) that never nest inside themselves and carry no attributes we
// use. Finding "<Name>...</Name>" and unescaping the five predefined entities plus
// numeric references is exact for that, and avoids a new dependency (and its
// entity-expansion and external-entity attack surface) for a few hundred lines of
// parsing we would not otherwise need.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rend::store::s3 {

std::string xml_unescape(std::string_view s);
std::string xml_escape(std::string_view s);

// Text of every <name>...</name> element, in document order, unescaped.
std::vector<std::string> xml_all(std::string_view doc, std::string_view name);
// Text of the first <name>...</name> element, unescaped.
std::optional<std::string> xml_first(std::string_view doc, std::string_view name);

struct ListPage {
  std::vector<std::string> keys;        // full S3 keys, as listed
  std::string next_continuation_token;  // empty when this was the last page
};
// A ListObjectsV2 response body. Throws std::runtime_error on a document that is
// not a ListBucketResult, so a garbled response never passes for an empty listing.
ListPage parse_list_page(std::string_view doc);

}  // namespace rend::store::s3
