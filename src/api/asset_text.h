#pragma once
// What a customer may call an asset and the source filename it may give (issue 13):
// text shown back in JSON, dashboards and webhook bodies, never used as a path.
// Pure (no HTTP types), so the JSON routes and tus Upload-Metadata check the same rule
// and fuzz/tus_headers_fuzz.cpp builds it alone.
#include <boost/json.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rend::api {

// Longest name or source filename, in bytes of UTF-8 (Cloudflare Stream's meta.name
// and common filesystems' 255-byte names fit).
inline constexpr size_t kMaxAssetTextBytes = 256;

// nullopt when `value` is acceptable: 1..256 bytes of well-formed UTF-8 (no overlong
// forms, surrogates or code points past U+10FFFF) without control characters (C0,
// DEL, C1), which would let a name break a log line or a terminal. Otherwise why not,
// as a phrase to follow the field's name ("must be at most 256 bytes").
std::optional<std::string> asset_text_problem(std::string_view value);

// A creation's name and source filename, checked; nullopt when not given.
struct AssetNames {
  std::optional<std::string> name, filename;
};

// The 400 to send for a refused name or filename. The refused value is never echoed.
struct AssetTextRefusal {
  std::string code;  // invalid_name | invalid_filename
  std::string message;
};

// "name" and "filename" of a JSON body (POST /v1/uploads, POST /v1/assets, PATCH):
// absent or null is none; otherwise a string passing asset_text_problem.
std::variant<AssetNames, AssetTextRefusal> asset_names_from_json(const boost::json::object& body);

// The same from tus Upload-Metadata (decoded values, any bytes): the message of the
// 400 invalid_metadata otherwise, naming the key.
std::variant<AssetNames, std::string> asset_names_from_metadata(const std::map<std::string, std::string>& meta);

}  // namespace rend::api
