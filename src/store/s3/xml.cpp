#include "store/s3/xml.h"

#include <cstdlib>
#include <stdexcept>

namespace rend::store::s3 {

namespace {
void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    throw std::runtime_error("invalid XML character reference");
  }
}
}  // namespace

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) throw std::runtime_error("unterminated XML entity");
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      const std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0') throw std::runtime_error("invalid XML character reference");
      append_utf8(out, cp);
    } else {
      throw std::runtime_error("unknown XML entity");
    }
    i = semi + 1;
  }
  return out;
}

// A table of XML's predefined entities. core/log.cpp (JSON) and clickhouse/schema.cpp
// (TabSeparated) have tables of the same shape for other formats: deliberate, each
// escapes what its own grammar needs.
std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<std::string> xml_all(std::string_view doc, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  std::vector<std::string> out;
  for (size_t pos = doc.find(open); pos != std::string_view::npos; pos = doc.find(open, pos)) {
    const size_t start = pos + open.size();
    const size_t end = doc.find(close, start);
    if (end == std::string_view::npos)
      throw std::runtime_error("unterminated <" + std::string(name) + "> in S3 response");
    out.push_back(xml_unescape(doc.substr(start, end - start)));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string> xml_first(std::string_view doc, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const size_t pos = doc.find(open);
  if (pos == std::string_view::npos) return std::nullopt;
  const size_t start = pos + open.size();
  const size_t end = doc.find(close, start);
  if (end == std::string_view::npos)
    throw std::runtime_error("unterminated <" + std::string(name) + "> in S3 response");
  return xml_unescape(doc.substr(start, end - start));
}

ListPage parse_list_page(std::string_view doc) {
  // "<ListBucketResult" may carry an xmlns attribute, so match the name only.
  if (doc.find("<ListBucketResult") == std::string_view::npos)
    throw std::runtime_error("S3 list response is not a ListBucketResult");
  ListPage page;
  page.keys = xml_all(doc, "Key");
  const auto truncated = xml_first(doc, "IsTruncated");
  if (truncated && *truncated == "true") {
    auto token = xml_first(doc, "NextContinuationToken");
    // A truncated page without a token would make us stop early and silently
    // return a short listing (or loop forever if we retried without one).
    if (!token || token->empty())
      throw std::runtime_error("S3 list response is truncated but has no continuation token");
    page.next_continuation_token = std::move(*token);
  }
  return page;
}

}  // namespace rend::store::s3
