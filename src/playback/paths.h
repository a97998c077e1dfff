#pragma once
// Mapping playback URLs (/v/{asset_id}/{artifact_path}) to stored artifacts.
//
// This is the only gate between a request path and the object store / disk, so it
// validates an allowlist of what we publish rather than trying to clean up what we don't.
#include <optional>
#include <string>
#include <string_view>

namespace rend::playback {

// master:   "master.m3u8" at the asset root (the multivariant playlist, RFC 8216 4.3.4)
// playlist: any other .m3u8 (media playlists, RFC 8216 4.3.3), including nested ones
// segment:  .ts / .m4s / .mp4 / .aac
// poster:   "poster.jpg" at the asset root
// thumbnail: "thumbnail.jpg" at the asset root, a virtual artifact: the edge renders it
//           from a segment (?time=&width=, src/edge/thumbnail.h), it is never stored
// other:    anything else allowed (storyboard.vtt, storyboard/sheet_0001.jpg, subtitles)
enum class ArtifactKind { master, playlist, segment, poster, thumbnail, other };

struct ArtifactRef {
  std::string asset_id;  // valid core id, e.g. "ast_<26 base32 chars>"
  std::string path;      // artifact path inside the asset, e.g. "720p/seg_00001.ts"
  ArtifactKind kind;
  // First directory of a nested path ("720p" for "720p/seg_00001.ts"); empty for files at
  // the asset root (master.m3u8, poster.jpg, ...).
  std::string tier;
};

// Parses the RAW request path (before percent-decoding, query string already removed).
// Returns nullopt unless the path is exactly "/v/" + valid asset id + "/" + 1-3 segments,
// each 1-128 chars of [A-Za-z0-9._-], not starting with '.', the last one ending in
// .m3u8/.ts/.m4s/.mp4/.aac/.jpg/.vtt. In particular any '%' is refused outright: we never
// publish names that need percent-encoding (RFC 3986 section 2.1), so refusing is both
// sufficient and immune to decode-then-check bugs (%2e%2e, %2f, %00, double encoding).
std::optional<ArtifactRef> parse_playback_target(std::string_view raw_path);

// "assets/{asset_id}/{path}" - the object store key of a parsed artifact.
std::string object_key_for(const ArtifactRef& ref);

// Content-Type by extension; m3u8 uses the RFC 8216 section 4 media type.
std::string content_type_for(std::string_view path);

// The master or a media playlist: text that may change under its name while the asset
// transcodes, and that carries a query token into its URIs when fetched with one.
constexpr bool is_playlist(ArtifactKind kind) { return kind == ArtifactKind::master || kind == ArtifactKind::playlist; }

// Cache-Control of a served artifact, the same from the edge and the API's legacy route
// (SPEC §6: short for playlists, immutable for segments). Private: every answer needs a
// credential, so no shared cache may keep it (RFC 9111 section 5.2.2.7). Playlists may be
// kept a second (they change while an asset transcodes: EVENT playlists, the fast-path
// master replaced by the ladder's); segments and posters never change under a name.
std::string_view cache_control_for(ArtifactKind kind);

}  // namespace rend::playback
