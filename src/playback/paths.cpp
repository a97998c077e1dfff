#include "playback/paths.h"

#include <array>

#include "core/ids.h"

namespace rend::playback {
namespace {

constexpr std::string_view kPrefix = "/v/";
constexpr size_t kMaxSegments = 3;
constexpr size_t kMaxNameLength = 128;
constexpr std::array<std::string_view, 7> kExtensions = {"m3u8", "ts", "m4s", "mp4", "aac", "jpg", "vtt"};

// RFC 3986 section 2.3 unreserved minus '~': every name we publish fits, and nothing in
// it has a special meaning to a path, a shell, or a filesystem.
bool allowed_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool valid_segment(std::string_view s) {
  // Empty ("//"), "." and ".." (RFC 3986 section 3.3 dot-segments) and hidden names are
  // all excluded by the leading-'.' rule or the emptiness check.
  if (s.empty() || s.size() > kMaxNameLength || s.front() == '.') return false;
  for (char c : s)
    if (!allowed_char(c)) return false;
  return true;
}

// Extension after the last '.', or empty when there is none.
std::string_view extension_of(std::string_view name) {
  auto slash = name.rfind('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {};
  return name.substr(dot + 1);
}

}  // namespace

std::optional<ArtifactRef> parse_playback_target(std::string_view raw) {
  // Cheap whole-string refusals first, so nothing below ever sees an encoded, escaped
  // or control byte. allowed_char would reject these too; being explicit keeps the
  // guarantee from depending on the charset staying narrow.
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '%' || c == '\\' || u < 0x20 || u == 0x7f) return std::nullopt;
  }
  if (raw.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  raw.remove_prefix(kPrefix.size());

  auto slash = raw.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view asset = raw.substr(0, slash);
  std::string_view path = raw.substr(slash + 1);
  if (!core::is_valid_id(asset)) return std::nullopt;

  // Split the artifact path; a leading '/' or "//" shows up as an empty segment.
  std::array<std::string_view, kMaxSegments> seg;
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (n == kMaxSegments) return std::nullopt;
      seg[n] = path.substr(start, i - start);
      if (!valid_segment(seg[n])) return std::nullopt;
      ++n;
      start = i + 1;
    }
  }

  std::string_view name = seg[n - 1];
  std::string_view ext = extension_of(name);
  bool known = false;
  for (auto e : kExtensions) known = known || ext == e;
  if (!known) return std::nullopt;

  ArtifactRef ref;
  ref.asset_id = std::string(asset);
  ref.path = std::string(path);
  if (n > 1) ref.tier = std::string(seg[0]);
  if (name == "master.m3u8" && n == 1) ref.kind = ArtifactKind::master;
  else if (ext == "m3u8") ref.kind = ArtifactKind::playlist;
  else if (ext == "ts" || ext == "m4s" || ext == "mp4" || ext == "aac") ref.kind = ArtifactKind::segment;
  else if (name == "poster.jpg" && n == 1) ref.kind = ArtifactKind::poster;
  else if (name == "thumbnail.jpg" && n == 1) ref.kind = ArtifactKind::thumbnail;
  else ref.kind = ArtifactKind::other;
  return ref;
}

std::string object_key_for(const ArtifactRef& ref) { return "assets/" + ref.asset_id + "/" + ref.path; }

std::string content_type_for(std::string_view path) {
  auto ext = extension_of(path);
  if (ext == "m3u8") return "application/vnd.apple.mpegurl";  // RFC 8216 section 4
  if (ext == "ts") return "video/mp2t";
  if (ext == "m4s" || ext == "mp4") return "video/mp4";
  if (ext == "aac") return "audio/aac";
  if (ext == "jpg") return "image/jpeg";
  if (ext == "vtt") return "text/vtt";
  return "application/octet-stream";
}

std::string_view cache_control_for(ArtifactKind kind) {
  return is_playlist(kind) ? "private, max-age=1" : "private, max-age=31536000, immutable";
}

}  // namespace rend::playback
