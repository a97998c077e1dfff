#pragma once
// Rewriting HLS playlists (RFC 8216) so every relative URI in them carries a query
// parameter - used to propagate the playback token to segment and sub-playlist requests.
#include <string>
#include <string_view>

namespace rend::hls {

// Appends "key=value" (value percent-encoded to the RFC 3986 section 2.3 unreserved set)
// to the query of:
//   * every URI line (RFC 8216 section 4.1: a non-blank line not starting with '#'), and
//   * every URI="..." attribute of an "#EXT-X-" tag whose value is a well-formed
//     attribute list (RFC 8216 section 4.2): EXT-X-KEY, EXT-X-SESSION-KEY, EXT-X-MAP,
//     EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-SESSION-DATA, EXT-X-PART, ...
// using '?' or '&' as appropriate, before any fragment. An existing "key" parameter is
// replaced rather than duplicated. URIs with a scheme ("https://cdn/..", "skd://..",
// "data:..") or a network-path reference ("//host/..") are left untouched: they may
// point at a foreign host, which must never receive the token. Everything else -
// comments, other tags, blank lines, "\n" vs "\r\n" endings, a missing final newline -
// is preserved byte for byte.
std::string add_query_to_playlist_uris(std::string_view playlist, std::string_view key, std::string_view value);

}  // namespace rend::hls
