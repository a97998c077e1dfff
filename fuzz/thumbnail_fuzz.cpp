// The edge's /v/{id}/thumbnail.jpg inputs: the ?time= and ?width= values a viewer
// sends, the master playlist the variant is chosen from, the derived cache key, and
// the storyboard VTT token rewriter. Input: "<time>\n<width>\n<token>\n<text>" where
// <text> is read as a master playlist and as a WebVTT file.
// Invariants: an accepted query has a non-negative time and one of the fixed widths,
// and its cache key parses back to itself; a chosen variant is in range; rewriting
// the VTT keeps its line count and, with a token of unreserved characters, adds it
// once per rewritten line (a second rewrite changes nothing).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/thumbnail_parse.h"
#include "fuzz_util.h"
#include "playback/vtt_rewrite.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string time(fuzz::take_line(in)), width(fuzz::take_line(in)), token(fuzz::take_line(in));
  auto q = edge::parse_thumbnail_query(time, width);
  if (auto* ok = std::get_if<edge::ThumbnailQuery>(&q)) {
    FUZZ_CHECK(ok->time_ds && *ok->time_ds >= 0);
    FUZZ_CHECK(std::find(edge::kThumbnailWidths.begin(), edge::kThumbnailWidths.end(), ok->width) !=
               edge::kThumbnailWidths.end());
    const std::string asset = "ast_abcdefghijklmnopqrstuvwxyz";
    auto key = edge::thumbnail_key(asset, *ok->time_ds, ok->width);
    auto back = edge::parse_thumbnail_key(key);
    FUZZ_CHECK(back && back->asset_id == asset && back->time_ds == *ok->time_ds && back->width == ok->width);
  } else {
    FUZZ_CHECK(std::get<edge::ThumbnailError>(q).status == 400);
  }
  (void)edge::parse_thumbnail_key(in);

  auto variants = edge::parse_master_variants(in);
  for (int w : edge::kThumbnailWidths) {
    auto i = edge::choose_variant(variants, w);
    FUZZ_CHECK(i.has_value() == !variants.empty());
    if (i) FUZZ_CHECK(*i < variants.size());
  }

  const std::string once = playback::add_query_to_vtt_cue_uris(in, "token", token);
  FUZZ_CHECK(std::count(once.begin(), once.end(), '\n') == std::count(in.begin(), in.end(), '\n'));
  FUZZ_CHECK(playback::add_query_to_vtt_cue_uris(once, "token", token) == once);
  return 0;
}
