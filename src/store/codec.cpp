#include "store/codec.h"

#include <boost/json.hpp>
#include <charconv>
#include <stdexcept>

#include "core/crypto.h"

namespace rend::store {

namespace json = boost::json;

std::string encode_asset_cursor(const AssetCursor& c) {
  return core::base64url_encode(std::to_string(c.created_at_ms) + ":" + c.id);
}

AssetCursor decode_asset_cursor(std::string_view cursor) {
  auto bad = [] { return std::invalid_argument("malformed cursor"); };
  auto raw = core::base64url_decode(cursor);
  if (!raw) throw bad();
  auto colon = raw->find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == raw->size()) throw bad();
  AssetCursor c;
  const char* end = raw->data() + colon;
  auto [ptr, ec] = std::from_chars(raw->data(), end, c.created_at_ms);
  if (ec != std::errc() || ptr != end) throw bad();
  c.id = raw->substr(colon + 1);
  // Only the one spelling encode_asset_cursor produces ("007:…", "+7:…", a padded or
  // re-cased base64 form of a valid cursor are refused, as documented).
  if (encode_asset_cursor(c) != cursor) throw bad();
  return c;
}

namespace {

json::value parse_stored(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) throw StoreError("stored " + std::string(what) + " are not a JSON array");
  return v;
}

}  // namespace

std::string tiers_to_json(const std::vector<Tier>& tiers) {
  json::array a;
  for (const auto& t : tiers)
    a.push_back(json::object{{"name", t.name}, {"width", t.width}, {"height", t.height}, {"bandwidth", t.bandwidth}});
  return json::serialize(a);
}

std::vector<Tier> tiers_from_json(std::string_view text) {
  std::vector<Tier> out;
  try {
    // Kept in a local: a range-for over a temporary's member would dangle.
    const json::value parsed = parse_stored(text, "tiers");
    for (const auto& v : parsed.as_array()) {
      const auto& o = v.as_object();
      out.push_back(Tier{json::value_to<std::string>(o.at("name")), json::value_to<int>(o.at("width")),
                         json::value_to<int>(o.at("height")), json::value_to<int64_t>(o.at("bandwidth"))});
    }
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(std::string("stored tiers are malformed: ") + e.what());
  }
  return out;
}

std::string strings_to_json(const std::vector<std::string>& values) {
  json::array a(values.begin(), values.end());
  return json::serialize(a);
}

std::vector<std::string> strings_from_json(std::string_view text) {
  try {
    return json::value_to<std::vector<std::string>>(parse_stored(text, "strings"));
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(std::string("stored strings are malformed: ") + e.what());
  }
}

std::string webhook_events_to_column(const std::vector<std::string>& events) {
  std::string out = ",";
  for (const auto& e : events) out += e + ",";
  return out;
}

std::vector<std::string> webhook_events_from_column(std::string_view column) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < column.size()) {
    size_t comma = column.find(',', at);
    if (comma == std::string_view::npos) comma = column.size();
    if (comma > at) out.emplace_back(column.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

std::string chunks_to_json(const std::vector<UploadChunk>& chunks) {
  json::array a;
  for (const auto& c : chunks) a.push_back(json::array{c.size, json::string(c.ref)});
  return json::serialize(a);
}

std::vector<UploadChunk> chunks_from_json(std::string_view text) {
  std::vector<UploadChunk> out;
  try {
    const json::value parsed = parse_stored(text, "upload chunks");
    for (const auto& v : parsed.as_array()) {
      const auto& pair = v.as_array();
      out.push_back(UploadChunk{json::value_to<int64_t>(pair.at(0)), json::value_to<std::string>(pair.at(1))});
    }
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(std::string("stored upload chunks are malformed: ") + e.what());
  }
  return out;
}

}  // namespace rend::store
