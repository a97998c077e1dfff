// Media playlists as ffmpeg writes them (read by the worker while it runs, and by the
// edge to learn segment durations), and the edge's token rewriter for playlists it
// serves. Input: "<token value>\n<playlist>".
// Invariants: one duration per segment URI; rewriting is idempotent (an existing
// parameter is replaced, never duplicated) and keeps the line structure.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "hls/playlist.h"
#include "hls/rewrite.h"

using namespace rend;

namespace {

size_t count(std::string_view s, char c) {
  size_t n = 0;
  for (char x : s) n += x == c;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view value = fuzz::take_line(in);

  const auto info = hls::parse_media_playlist(in);
  FUZZ_CHECK(info.durations.size() == info.segment_uris.size());

  const std::string once = hls::add_query_to_playlist_uris(in, "token", value);
  FUZZ_CHECK(count(once, '\n') == count(in, '\n'));
  const std::string twice = hls::add_query_to_playlist_uris(once, "token", value);
  FUZZ_CHECK(twice == once);
  // The rewritten playlist still lists the same segments: the parser and the
  // rewriter agree on blank, tag and URI lines (indented tags and stray CRs included).
  const auto after = hls::parse_media_playlist(once);
  FUZZ_CHECK(after.segment_uris.size() == info.segment_uris.size());
  return 0;
}
