// Playback credentials as the edge receives them: a Cookie header (or a ?token=
// value), then verify_playback_token. Input: "<asset id>\n<Cookie header value>".
// Invariants: the verifier never crashes, and a token it accepts is exactly what
// sign_playback_token makes from the same fields (no second spelling is accepted);
// the shared credential check (playback/credential.h) allows exactly what the verifier
// accepts, refuses another asset's token with 403 and anything else with 401, and
// judges a query token whatever the cookie says.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/playback_token.h"
#include "fuzz_util.h"
#include "http/cookie.h"
#include "playback/credential.h"

using namespace rend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view asset = fuzz::take_line(in);
  // Fixed keys (the secret is not what is being fuzzed); two, to cover the key lookup.
  static const std::vector<auth::SigningKey> keys = {{"k1", "fuzz-secret-one"}, {"k-2_b", "fuzz-secret-two"}};
  constexpr int64_t kNow = 1'800'000'000;

  const auto token = http::cookie_in_header(in, "rend_playback");
  // Also the header value as a bare token (the ?token= path).
  for (std::string_view t : {token.value_or(std::string_view()), in}) {
    const auto st = auth::verify_playback_token(keys, t, asset, kNow);
    FUZZ_CHECK(auth::to_string(st) != nullptr);
    const playback::TokenVerifier verify = [&](std::string_view tok, std::string_view a) {
      return auth::verify_playback_token(keys, tok, a, kNow);
    };
    const auto check = playback::check_credential(t, std::nullopt, asset, verify);
    FUZZ_CHECK(check.allowed() == (st == auth::TokenStatus::ok));
    if (!check.allowed()) FUZZ_CHECK(check.status == (st == auth::TokenStatus::wrong_asset ? 403 : 401));
    const auto with_cookie = playback::check_credential(t, token, asset, verify);
    FUZZ_CHECK(with_cookie.status == check.status && with_cookie.code == check.code);
    if (st != auth::TokenStatus::ok) continue;
    // v1.<kid>.<exp>.<asset>.<sig> or v2.<kid>.<exp>.<asset>.<sid>.<sig>
    std::vector<std::string_view> f;
    for (std::string_view rest = t;;) {
      const auto dot = rest.find('.');
      f.push_back(rest.substr(0, dot));
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    FUZZ_CHECK(f.size() == 5 || f.size() == 6);
    const auth::SigningKey* key = nullptr;
    for (const auto& k : keys)
      if (k.id == f[1]) key = &k;
    FUZZ_CHECK(key != nullptr);
    FUZZ_CHECK(f[3] == asset);
    const int64_t exp = std::stoll(std::string(f[2]));
    FUZZ_CHECK(exp > kNow);
    const std::string_view sid = auth::playback_token_session(t);
    FUZZ_CHECK(sid == (f.size() == 6 ? f[4] : std::string_view()));
    FUZZ_CHECK(auth::sign_playback_token(*key, asset, exp, sid) == t);
  }
  return 0;
}
