#pragma once
// The pure parts of /v/{id}/thumbnail.jpg (edge/thumbnail.h): the query, the master
// playlist's variants, the segment holding a time, the derived cache key and the
// ffmpeg command. Kept apart from the Thumbnailer so the fuzz target links only these.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hls/playlist.h"

namespace rend::edge {

inline constexpr std::array<int, 4> kThumbnailWidths = {160, 320, 640, 1280};

struct ThumbnailError {
  int status = 400;
  std::string code, message;
};

// ?time= and ?width= (either may be absent: the poster's time, 320 px). `time` is
// seconds as a plain decimal ("12", "12.5"); anything else (signs, exponents, nan) is
// refused. `time_ds` is T in tenths of a second, rounded down.
struct ThumbnailQuery {
  std::optional<int64_t> time_ds;
  int width = 320;
};
std::variant<ThumbnailQuery, ThumbnailError> parse_thumbnail_query(const std::optional<std::string>& time,
                                                                   const std::optional<std::string>& width);

// The poster's time (media/stages.cpp): 1 s, or mid-clip under 2 s; in tenths.
int64_t default_thumbnail_time_ds(double duration_s);

// The variants of a master playlist: URI and RESOLUTION (0 x 0 when absent).
struct MasterVariant {
  std::string uri;
  int width = 0, height = 0;
};
std::vector<MasterVariant> parse_master_variants(std::string_view text);
// The smallest variant at least `width` wide, else the widest; nullopt when none.
std::optional<size_t> choose_variant(const std::vector<MasterVariant>& variants, int width);

// The segment holding t: its index and start time; nullopt when t is past the end.
struct SegmentAt {
  size_t index = 0;
  double start_s = 0, duration_s = 0;
};
std::optional<SegmentAt> segment_at(const hls::MediaPlaylistInfo& playlist, double t);

// assets/{asset}/thumb/{time_ds}/{width}/thumbnail.jpg, and back.
std::string thumbnail_key(const std::string& asset_id, int64_t time_ds, int width);
struct ThumbnailKey {
  std::string asset_id;
  int64_t time_ds = 0;
  int width = 0;
};
std::optional<ThumbnailKey> parse_thumbnail_key(std::string_view key);

// The ffmpeg command: the frame `offset_s` into the local segment, `width` wide.
std::vector<std::string> thumbnail_command(const std::string& ffmpeg_path, const std::string& segment_file,
                                           double offset_s, int width, const std::string& out_file);

}  // namespace rend::edge
