#include "auth/playback_token.h"

#include <gtest/gtest.h>

#include <ostream>
#include <stdexcept>
#include <string>

#include "core/crypto.h"

using namespace rend::auth;

namespace rend::auth {
// Readable gtest failure messages ("expired" rather than a byte dump).
void PrintTo(TokenStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace rend::auth

namespace {

const std::string kAsset = "ast_abcdefghijklmnopqrstuvwxyz";
const std::string kOther = "ast_234567abcdefghijklmnopqrst";
const SigningKey kKey{"k1", "super-secret-one"};
const SigningKey kKey2{"k2", "super-secret-two"};
constexpr int64_t kExp = 1'700'000'000;
constexpr int64_t kNow = kExp - 60;

std::vector<std::string> split(const std::string& t) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= t.size(); ++i)
    if (i == t.size() || t[i] == '.') {
      out.push_back(t.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

std::string join(const std::vector<std::string>& p) {
  std::string s;
  for (size_t i = 0; i < p.size(); ++i) s += (i ? "." : "") + p[i];
  return s;
}

// Re-signs arbitrary fields with kKey's secret, to build tokens that carry a valid MAC.
std::string forge_signed(const std::string& kid, const std::string& exp, const std::string& asset) {
  std::string input = "v1." + kid + "." + exp + "." + asset;
  return input + "." + rend::core::base64url_encode(rend::core::hmac_sha256(kKey.secret, input));
}

}  // namespace

TEST(PlaybackToken, RoundTrip) {
  auto t = sign_playback_token(kKey, kAsset, kExp);
  EXPECT_EQ(t.rfind("v1.k1.1700000000." + kAsset + ".", 0), 0u);
  EXPECT_EQ(split(t).size(), 5u);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kNow), TokenStatus::ok);
}

TEST(PlaybackToken, MatchesIndependentHmac) {
  EXPECT_EQ(sign_playback_token(kKey, kAsset, kExp), forge_signed("k1", "1700000000", kAsset));
}

TEST(PlaybackToken, EveryFieldTampered) {
  auto t = sign_playback_token(kKey, kAsset, kExp);
  auto p = split(t);
  auto with = [&](size_t i, const std::string& v) {
    auto q = p;
    q[i] = v;
    return verify_playback_token({kKey}, join(q), kAsset, kNow);
  };
  EXPECT_EQ(with(0, "v2"), TokenStatus::malformed);
  EXPECT_EQ(with(0, "V1"), TokenStatus::malformed);
  // Same secret under another kid name: still a different signed message.
  EXPECT_EQ(verify_playback_token({kKey, {"k9", kKey.secret}}, join({p[0], "k9", p[2], p[3], p[4]}), kAsset, kNow),
            TokenStatus::bad_signature);
  EXPECT_EQ(with(2, "1700000001"), TokenStatus::bad_signature);  // extend expiry
  EXPECT_EQ(with(2, "9999999999"), TokenStatus::bad_signature);
  EXPECT_EQ(with(3, kOther), TokenStatus::bad_signature);  // swap asset
  std::string sig = p[4];
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(with(4, sig), TokenStatus::bad_signature);
  // Flip a character in the middle too (not just the first).
  sig = p[4];
  sig[20] = sig[20] == 'A' ? 'B' : 'A';
  EXPECT_EQ(with(4, sig), TokenStatus::bad_signature);
  EXPECT_EQ(with(4, p[4].substr(0, 42)), TokenStatus::malformed);  // truncated
  EXPECT_EQ(with(4, p[4] + "A"), TokenStatus::malformed);          // extended
  EXPECT_EQ(with(4, ""), TokenStatus::malformed);
}

TEST(PlaybackToken, ForgedTokenLearnsNothingAboutExpiryOrAsset) {
  // Expired and for another asset, but unsigned by us: bad_signature, not expired/wrong_asset.
  auto p = split(sign_playback_token(kKey, kOther, 10));
  p[4] = std::string(43, 'A');
  EXPECT_EQ(verify_playback_token({kKey}, join(p), kAsset, kNow), TokenStatus::bad_signature);
}

TEST(PlaybackToken, UnknownKey) {
  auto t = sign_playback_token(kKey2, kAsset, kExp);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kNow), TokenStatus::unknown_key);
  EXPECT_EQ(verify_playback_token({}, t, kAsset, kNow), TokenStatus::unknown_key);
  // A configured key with an empty secret is never used.
  EXPECT_EQ(verify_playback_token({{"k2", ""}}, t, kAsset, kNow), TokenStatus::unknown_key);
}

TEST(PlaybackToken, ExpiredAtExactlyExp) {
  auto t = sign_playback_token(kKey, kAsset, kExp);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kExp - 1), TokenStatus::ok);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kExp), TokenStatus::expired);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kExp + 1), TokenStatus::expired);
  auto zero = sign_playback_token(kKey, kAsset, 0);
  EXPECT_EQ(split(zero)[2], "0");
  EXPECT_EQ(verify_playback_token({kKey}, zero, kAsset, 0), TokenStatus::expired);
}

TEST(PlaybackToken, WrongAsset) {
  auto t = sign_playback_token(kKey, kAsset, kExp);
  EXPECT_EQ(verify_playback_token({kKey}, t, kOther, kNow), TokenStatus::wrong_asset);
  EXPECT_EQ(verify_playback_token({kKey}, t, "", kNow), TokenStatus::wrong_asset);
  // Expiry is reported before the asset mismatch.
  EXPECT_EQ(verify_playback_token({kKey}, t, kOther, kExp), TokenStatus::expired);
}

TEST(PlaybackToken, KeyRotation) {
  auto old_t = sign_playback_token(kKey, kAsset, kExp);
  auto new_t = sign_playback_token(kKey2, kAsset, kExp);
  std::vector<SigningKey> both{kKey2, kKey};
  EXPECT_EQ(verify_playback_token(both, old_t, kAsset, kNow), TokenStatus::ok);
  EXPECT_EQ(verify_playback_token(both, new_t, kAsset, kNow), TokenStatus::ok);
  // After the old key is retired its tokens stop working.
  EXPECT_EQ(verify_playback_token({kKey2}, old_t, kAsset, kNow), TokenStatus::unknown_key);
  // A token signed by key 2 but labelled as key 1 does not verify.
  auto p = split(new_t);
  p[1] = "k1";
  EXPECT_EQ(verify_playback_token(both, join(p), kAsset, kNow), TokenStatus::bad_signature);
}

TEST(PlaybackToken, GarbageInputs) {
  std::vector<SigningKey> keys{kKey};
  auto good = sign_playback_token(kKey, kAsset, kExp);
  auto p = split(good);
  const std::string huge(100000, 'a');
  std::vector<std::string> bad = {
      "",
      ".",
      "....",
      ".....",
      "v1....",
      huge,
      good + std::string(600, 'A'),
      good + ".",
      "." + good,
      good + ".extra",
      "v1.k1.1700000000." + kAsset,  // four parts
      join({p[0], p[1], p[2], p[3], "not base64!"}),
      join({p[0], p[1], p[2], p[3], std::string(43, '+')}),
      join({p[0], p[1], p[2], p[3], std::string(42, 'A') + "B"}),  // non-canonical tail bits
      join({p[0], "", p[2], p[3], p[4]}),
      join({p[0], std::string(33, 'k'), p[2], p[3], p[4]}),
      join({p[0], "k 1", p[2], p[3], p[4]}),
      join({p[0], p[1], "-1700000000", p[3], p[4]}),
      join({p[0], p[1], "+1700000000", p[3], p[4]}),
      join({p[0], p[1], "01700000000", p[3], p[4]}),
      join({p[0], p[1], "", p[3], p[4]}),
      join({p[0], p[1], "1e9", p[3], p[4]}),
      join({p[0], p[1], "9223372036854775808", p[3], p[4]}),  // INT64_MAX + 1
      join({p[0], p[1], "99999999999999999999", p[3], p[4]}),
      join({p[0], p[1], p[2], "", p[4]}),
      join({p[0], p[1], p[2], "ast_short", p[4]}),
      join({p[0], p[1], p[2], "AST_ABCDEFGHIJKLMNOPQRSTUVWXYZ", p[4]}),
      std::string("v1.k1.1700000000.") + kAsset + "." + std::string(42, 'A') + std::string(1, '\0'),
  };
  for (const auto& t : bad)
    EXPECT_EQ(verify_playback_token(keys, t, kAsset, kNow), TokenStatus::malformed) << "token: " << t.substr(0, 120);
}

TEST(PlaybackToken, MaxExpiryParses) {
  // INT64_MAX itself is a valid, never-expiring value; only overflow is malformed.
  auto t = forge_signed("k1", "9223372036854775807", kAsset);
  EXPECT_EQ(verify_playback_token({kKey}, t, kAsset, kNow), TokenStatus::ok);
}

TEST(PlaybackToken, SignRejectsUnrepresentableInput) {
  EXPECT_THROW(sign_playback_token({"", "s"}, kAsset, kExp), std::invalid_argument);
  EXPECT_THROW(sign_playback_token({"a.b", "s"}, kAsset, kExp), std::invalid_argument);
  EXPECT_THROW(sign_playback_token({std::string(33, 'k'), "s"}, kAsset, kExp), std::invalid_argument);
  EXPECT_THROW(sign_playback_token({"k1", ""}, kAsset, kExp), std::invalid_argument);
  EXPECT_THROW(sign_playback_token(kKey, "ast_x.y", kExp), std::invalid_argument);
  EXPECT_THROW(sign_playback_token(kKey, kAsset, -1), std::invalid_argument);
  EXPECT_NO_THROW(sign_playback_token({std::string(32, 'K'), "s"}, kAsset, kExp));
  EXPECT_NO_THROW(sign_playback_token({"Key_-09", "s"}, kAsset, kExp));
}

TEST(PlaybackToken, StatusNames) {
  EXPECT_STREQ(to_string(TokenStatus::ok), "ok");
  EXPECT_STREQ(to_string(TokenStatus::malformed), "malformed");
  EXPECT_STREQ(to_string(TokenStatus::unknown_key), "unknown_key");
  EXPECT_STREQ(to_string(TokenStatus::bad_signature), "bad_signature");
  EXPECT_STREQ(to_string(TokenStatus::expired), "expired");
  EXPECT_STREQ(to_string(TokenStatus::wrong_asset), "wrong_asset");
}

TEST(PlaybackTokenV2, CarriesASignedSessionId) {
  using namespace rend::auth;
  SigningKey k{"dev", std::string(40, 's')};
  const std::string asset = "ast_abcdefghijklmnopqrstuvwxyz";
  auto t = sign_playback_token(k, asset, 2000, "sess_AB-1");
  EXPECT_EQ(t.rfind("v2.dev.2000." + asset + ".sess_AB-1.", 0), 0u) << t;
  EXPECT_EQ(verify_playback_token({k}, t, asset, 1000), TokenStatus::ok);
  EXPECT_EQ(playback_token_session(t), "sess_AB-1");
  EXPECT_EQ(verify_playback_token({k}, t, asset, 2000), TokenStatus::expired);
  // The session id is signed: changing it breaks the signature.
  auto forged = t;
  forged.replace(forged.find("sess_AB-1"), 9, "sess_AB-2");
  EXPECT_EQ(verify_playback_token({k}, forged, asset, 1000), TokenStatus::bad_signature);
  // Claiming v1 with six parts, or v2 with five, is malformed.
  auto v1 = sign_playback_token(k, asset, 2000);
  EXPECT_EQ(playback_token_session(v1), "");
  EXPECT_EQ(verify_playback_token({k}, "v2" + v1.substr(2), asset, 1000), TokenStatus::malformed);
  EXPECT_EQ(verify_playback_token({k}, "v1" + t.substr(2), asset, 1000), TokenStatus::malformed);
  EXPECT_THROW(sign_playback_token(k, asset, 2000, "bad.sid"), std::invalid_argument);
}
