#pragma once
// What a customer may call an asset and the source filename it may give (issue 13):
// text shown back in JSON, dashboards and webhook bodies, never used as a path.
// Pure, so the JSON routes and tus Upload-Metadata check the same rule.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rend::api {

// Longest name or source filename, in bytes of UTF-8 (Cloudflare Stream's meta.name
// and common filesystems' 255-byte names fit).
inline constexpr size_t kMaxAssetTextBytes = 256;

// nullopt when `value` is acceptable: 1..256 bytes of well-formed UTF-8 (no overlong
// forms, surrogates or code points past U+10FFFF) without control characters (C0,
// DEL, C1), which would let a name break a log line or a terminal. Otherwise why not,
// as a phrase to follow the field's name ("must be at most 256 bytes").
std::optional<std::string> asset_text_problem(std::string_view value);

}  // namespace rend::api
