#pragma once
// Carrying a ?token= credential into the image URIs of a storyboard WebVTT file, as the
// edge does for playlists (hls/rewrite.h): a player that was given ?token= URLs
// (POST /v1/assets/{id}/playback) loads storyboard.vtt with the token, and the sheets
// its cues name must carry it too.
#include <string>
#include <string_view>

namespace rend::playback {

// Appends "key=value" (percent-encoded) to the query of the first payload line of every
// cue (the line after a "-->" timing line), before its fragment ("#xywh=..."), replacing
// an existing "key" parameter. Payloads with a scheme or a network-path reference
// ("https://...", "//host/...") are left alone: they may point at another host, which
// must never receive the token. Everything else is kept byte for byte.
std::string add_query_to_vtt_cue_uris(std::string_view vtt, std::string_view key, std::string_view value);

}  // namespace rend::playback
