// The edge's only gate between a request path and the disk / object store.
// Invariants for an accepted path: it re-assembles to exactly the input, the object
// key stays under assets/{id}/, and no part can climb or be percent-decoded.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ids.h"
#include "fuzz_util.h"
#include "playback/paths.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  const auto ref = playback::parse_playback_target(path);
  (void)playback::content_type_for(path);
  if (!ref) return 0;
  FUZZ_CHECK(core::is_valid_id(ref->asset_id));
  FUZZ_CHECK("/v/" + ref->asset_id + "/" + ref->path == path);
  FUZZ_CHECK(path.find('%') == std::string_view::npos);
  FUZZ_CHECK(ref->path.find("..") == std::string::npos || ref->path.find("/.") == std::string::npos);
  FUZZ_CHECK(ref->path.front() != '.' && ref->path.find("/.") == std::string::npos);
  FUZZ_CHECK(ref->path.find("//") == std::string::npos && ref->path.back() != '/');
  const std::string key = playback::object_key_for(*ref);
  FUZZ_CHECK(key == "assets/" + ref->asset_id + "/" + ref->path);
  const auto slash = ref->path.find('/');
  FUZZ_CHECK(ref->tier == (slash == std::string::npos ? std::string() : ref->path.substr(0, slash)));
  return 0;
}
