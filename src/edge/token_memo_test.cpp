#include "edge/token_memo.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace rend::auth {
void PrintTo(TokenStatus s, std::ostream* os) { *os << to_string(s); }
}  // namespace rend::auth

namespace {

using rend::auth::SigningKey;
using rend::auth::TokenStatus;
using rend::edge::AcceptedKeys;
using rend::edge::verify_token_memoized;

const std::string kAsset = "ast_abcdefghijklmnopqrstuvwxyz";
const std::string kOther = "ast_234567abcdefghijklmnopqrst";
const SigningKey kKey{"k1", "super-secret-one-0123456789abcdef"};
const SigningKey kKey2{"k2", "super-secret-two-0123456789abcdef"};
constexpr int64_t kExp = 1'700'000'000;

std::string token(const SigningKey& k = kKey, const std::string& sid = "") {
  return rend::auth::sign_playback_token(k, kAsset, kExp, sid);
}

TEST(TokenMemo, RepeatedHitsKeepTheVerdict) {
  AcceptedKeys keys({kKey});
  for (const auto& t : {token(), token(kKey, "sess1")}) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(verify_token_memoized(keys, t, kAsset, kExp - 60), TokenStatus::ok);
      EXPECT_EQ(verify_token_memoized(keys, t, kOther, kExp - 60), TokenStatus::wrong_asset);
    }
  }
}

// A remembered token is still judged against the clock on every request.
TEST(TokenMemo, RememberedTokenRefusedAfterExpiry) {
  AcceptedKeys keys({kKey});
  const auto t = token();
  ASSERT_EQ(verify_token_memoized(keys, t, kAsset, kExp - 1), TokenStatus::ok);
  EXPECT_EQ(verify_token_memoized(keys, t, kAsset, kExp), TokenStatus::expired);
  EXPECT_EQ(verify_token_memoized(keys, t, kAsset, kExp + 3600), TokenStatus::expired);
  // First seen already expired (remembered as validly signed): still expired, never ok.
  AcceptedKeys fresh({kKey});
  EXPECT_EQ(verify_token_memoized(fresh, t, kAsset, kExp + 1), TokenStatus::expired);
  EXPECT_EQ(verify_token_memoized(fresh, t, kAsset, kExp + 2), TokenStatus::expired);
}

// Every one-byte change of a remembered token is verified in full and refused; the
// original stays accepted.
TEST(TokenMemo, OneByteTamperingRefused) {
  AcceptedKeys keys({kKey});
  const auto t = token(kKey, "sess1");
  ASSERT_EQ(verify_token_memoized(keys, t, kAsset, kExp - 60), TokenStatus::ok);
  for (size_t i = 0; i < t.size(); ++i) {
    for (char c : {'a', 'B', '7', '.', '-'}) {
      if (t[i] == c) continue;
      std::string bad = t;
      bad[i] = c;
      auto st = verify_token_memoized(keys, bad, kAsset, kExp - 60);
      EXPECT_NE(st, TokenStatus::ok) << "byte " << i << " -> " << c;
      EXPECT_EQ(st, rend::auth::verify_playback_token(keys.keys(), bad, kAsset, kExp - 60)) << "byte " << i;
    }
  }
  EXPECT_EQ(verify_token_memoized(keys, t, kAsset, kExp - 60), TokenStatus::ok);
  EXPECT_NE(verify_token_memoized(keys, t + "x", kAsset, kExp - 60), TokenStatus::ok);
  EXPECT_NE(verify_token_memoized(keys, t.substr(0, t.size() - 1), kAsset, kExp - 60), TokenStatus::ok);
}

// A rotation: a key set without the token's key refuses it although another key set
// remembered it; with the old key kept as a previous key it still plays.
TEST(TokenMemo, RotatedOrRevokedKeyRefusesRememberedToken) {
  const auto t = token();
  AcceptedKeys before({kKey});
  ASSERT_EQ(verify_token_memoized(before, t, kAsset, kExp - 60), TokenStatus::ok);
  AcceptedKeys revoked({kKey2});
  EXPECT_EQ(verify_token_memoized(revoked, t, kAsset, kExp - 60), TokenStatus::unknown_key);
  AcceptedKeys same_id_new_secret({SigningKey{"k1", "another-secret-0123456789abcdefgh"}});
  EXPECT_EQ(verify_token_memoized(same_id_new_secret, t, kAsset, kExp - 60), TokenStatus::bad_signature);
  AcceptedKeys rotated({kKey2, kKey});  // k1 kept as a previous key
  EXPECT_EQ(verify_token_memoized(rotated, t, kAsset, kExp - 60), TokenStatus::ok);
  // The old key set's memo entry was replaced, not shared: it still judges by its keys.
  EXPECT_EQ(verify_token_memoized(revoked, t, kAsset, kExp - 60), TokenStatus::unknown_key);
}

// A key set built where a destroyed one lived (the same address) is a new key set.
TEST(TokenMemo, ReplacedKeySetAtSameAddressDoesNotInherit) {
  const auto t = token();
  std::optional<AcceptedKeys> keys;
  keys.emplace(std::vector<SigningKey>{kKey});
  const void* where = &*keys;
  ASSERT_EQ(verify_token_memoized(*keys, t, kAsset, kExp - 60), TokenStatus::ok);
  keys.reset();
  keys.emplace(std::vector<SigningKey>{SigningKey{"k1", "rotated-secret-0123456789abcdefgh"}});
  ASSERT_EQ(where, static_cast<const void*>(&*keys));
  EXPECT_EQ(verify_token_memoized(*keys, t, kAsset, kExp - 60), TokenStatus::bad_signature);
}

TEST(TokenMemo, BoundedPerThread) {
  AcceptedKeys keys({kKey});
  const auto first = token();
  ASSERT_EQ(verify_token_memoized(keys, first, kAsset, kExp - 60), TokenStatus::ok);
  for (size_t i = 0; i < rend::edge::kMaxRemembered + 10; ++i) {
    auto t = rend::auth::sign_playback_token(kKey, kAsset, kExp + int64_t(i) + 1);
    ASSERT_EQ(verify_token_memoized(keys, t, kAsset, kExp - 60), TokenStatus::ok);
  }
  EXPECT_EQ(verify_token_memoized(keys, first, kAsset, kExp - 60), TokenStatus::ok);
}

}  // namespace
