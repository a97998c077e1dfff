// tus request headers (uploads/tus.h) and direct-upload tokens (uploads/direct.h), all
// outside input. The input is one header value; each parser gets it. Invariants:
// sizes are digits only and print back to the same text (modulo leading zeros);
// decoded base64 re-encodes to the input; metadata keys are non-empty printable ASCII
// without spaces; a checksum's digest is non-empty; a token verifies only when it is
// signed by the secret, and its grant signed again verifies to the same grant. An
// accepted asset name or filename (api/asset_text.h, from Upload-Metadata) is 1..256
// bytes without control characters that Boost.JSON's validating parser reads back.
#include <cstdint>
#include <string>
#include <string_view>

#include "api/asset_text.h"
#include "core/crypto.h"
#include "core/json.h"
#include "fuzz_util.h"
#include "uploads/direct.h"
#include "uploads/tus.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto n = uploads::parse_size(in)) {
    FUZZ_CHECK(*n >= 0);
    std::string_view digits = in;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    FUZZ_CHECK(std::to_string(*n) == digits);
  }
  if (auto raw = uploads::base64_decode(in)) FUZZ_CHECK(core::base64_encode(*raw) == in);
  if (auto m = uploads::parse_metadata(in)) {
    for (const auto& [k, v] : *m) {
      FUZZ_CHECK(!k.empty());
      for (char c : k) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f);
      FUZZ_CHECK(k.find(',') == std::string::npos);
    }
    auto checked = api::asset_names_from_metadata(*m);
    if (auto* names = std::get_if<api::AssetNames>(&checked))
      for (const auto* v : {&names->name, &names->filename}) FUZZ_CHECK(!*v || !api::asset_text_problem(**v));
  }
  // The input itself as a name: the rule agrees with an independent UTF-8 check.
  if (!api::asset_text_problem(in)) {
    FUZZ_CHECK(!in.empty() && in.size() <= api::kMaxAssetTextBytes);
    for (unsigned char c : in) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    auto back = core::parse_json_strict(boost::json::serialize(boost::json::value(boost::json::string(in))));
    FUZZ_CHECK(back && back->is_string() && back->as_string() == in);
  }
  if (auto c = uploads::parse_checksum(in)) FUZZ_CHECK(!c->digest.empty() && !c->algorithm.empty());

  const std::string secret(40, 'f');
  if (auto g = uploads::verify_direct_token(secret, in, 0)) {
    FUZZ_CHECK(g->expires_unix > 0);
    auto again = uploads::verify_direct_token(secret, uploads::sign_direct_token(secret, *g), 0);
    FUZZ_CHECK(again && again->upload_id == g->upload_id && again->origin == g->origin &&
               again->expires_unix == g->expires_unix);
  }
  (void)uploads::is_web_origin(in);
  return 0;
}
