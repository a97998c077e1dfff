#include "api/asset_text.h"

#include <cstdint>
#include <utility>

namespace rend::api {

namespace {
// Written by hand: Boost.JSON validates UTF-8 only inside its parser (not exposed), and
// ICU would be a new dependency for these twenty lines; the fuzz target checks this
// against Boost.JSON's parser (fuzz/tus_headers_fuzz.cpp).
// The code point of the well-formed UTF-8 sequence at s[i] (advancing i past it), or
// nullopt. Well-formed per RFC 3629 §4: shortest form, no surrogates, ≤ U+10FFFF.
std::optional<uint32_t> next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) len = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, cp = b0 & 0x07, min = 0x10000;
  else return std::nullopt;  // a continuation byte first, or 0xF8..0xFF
  if (s.size() - i < len) return std::nullopt;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += len;
  return cp;
}
}  // namespace

std::optional<std::string> asset_text_problem(std::string_view value) {
  if (value.empty()) return "must not be empty (omit it, or send null, for none)";
  if (value.size() > kMaxAssetTextBytes)
    return "must be at most " + std::to_string(kMaxAssetTextBytes) + " bytes of UTF-8";
  for (size_t i = 0; i < value.size();) {
    auto cp = next_code_point(value, i);
    if (!cp) return std::string("must be valid UTF-8");
    if (*cp < 0x20 || (*cp >= 0x7F && *cp <= 0x9F))
      return std::string("must not contain control characters (newlines, tabs, escapes)");
  }
  return std::nullopt;
}

namespace {
// nullopt when acceptable; otherwise the 400's message for the field `field`.
std::optional<std::string> field_problem(const boost::json::value* v, std::string_view field) {
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) return std::string(field) + " must be a string (or null for none)";
  if (auto why = asset_text_problem(v->as_string())) return std::string(field) + " " + *why;
  return std::nullopt;
}

std::optional<std::string> text_of(const boost::json::value* v) {
  if (!v || v->is_null()) return std::nullopt;
  return std::string(v->as_string());
}
}  // namespace

std::variant<AssetNames, AssetTextRefusal> asset_names_from_json(const boost::json::object& body) {
  const auto* name = body.if_contains("name");
  const auto* filename = body.if_contains("filename");
  if (auto why = field_problem(name, "name")) return AssetTextRefusal{"invalid_name", *why};
  if (auto why = field_problem(filename, "filename")) return AssetTextRefusal{"invalid_filename", *why};
  return AssetNames{text_of(name), text_of(filename)};
}

std::variant<AssetNames, std::string> asset_names_from_metadata(const std::map<std::string, std::string>& meta) {
  AssetNames out;
  for (auto [key, slot] : {std::pair{"name", &out.name}, std::pair{"filename", &out.filename}}) {
    auto it = meta.find(key);
    if (it == meta.end()) continue;
    if (auto why = asset_text_problem(it->second)) return "Upload-Metadata " + std::string(key) + " " + *why;
    *slot = it->second;
  }
  return out;
}

}  // namespace rend::api
