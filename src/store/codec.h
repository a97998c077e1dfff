#pragma once
// Encodings shared by every MetadataStore backend, so a cursor or a stored tier list
// means the same thing whichever database is behind DATABASE_URL.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/metadata.h"

namespace rend::store {

// Position in the (created_at_ms desc, id desc) asset order: the last asset returned.
struct AssetCursor {
  int64_t created_at_ms = 0;
  std::string id;
};

// Opaque to clients (base64url of "ms:id"), so the encoding may change later.
std::string encode_asset_cursor(const AssetCursor& c);
// Throws std::invalid_argument on anything encode_asset_cursor could not have produced.
AssetCursor decode_asset_cursor(std::string_view cursor);

// JSON arrays as stored in text/jsonb columns. Decoding throws StoreError on bad data.
std::string tiers_to_json(const std::vector<Tier>& tiers);
std::vector<Tier> tiers_from_json(std::string_view json);
std::string strings_to_json(const std::vector<std::string>& values);
std::vector<std::string> strings_from_json(std::string_view json);

}  // namespace rend::store
