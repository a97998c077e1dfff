#include "playback/credential.h"

#include "auth/settings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace rend;
using playback::check_credential;

namespace {

const std::string kAsset = "ast_abcdefghijklmnopqrstuvwxyz";
const std::string kOther = "ast_bbcdefghijklmnopqrstuvwxyz";
const auth::SigningKey kKey{"k1", std::string(48, 's')};
constexpr int64_t kNow = 1'800'000'000;

// The real verifier with a fixed clock: the tests exercise tokens, not a stand-in.
const playback::TokenVerifier kVerify = [](std::string_view token, std::string_view asset) {
  return auth::verify_playback_token({kKey}, token, asset, kNow);
};

std::string good(const std::string& asset = kAsset) { return auth::sign_playback_token(kKey, asset, kNow + 60, "s1"); }

void expect_refusal(const playback::CredentialCheck& c, int status, std::string_view code) {
  EXPECT_FALSE(c.allowed());
  EXPECT_EQ(c.status, status);
  EXPECT_EQ(c.code, code);
  EXPECT_FALSE(c.message.empty());
}

}  // namespace

TEST(Credential, GoodTokenInQueryOrCookieIsAllowed) {
  auto t = good();
  EXPECT_TRUE(check_credential(t, std::nullopt, kAsset, kVerify).allowed());
  EXPECT_TRUE(check_credential(std::nullopt, t, kAsset, kVerify).allowed());
  EXPECT_EQ(check_credential(t, std::nullopt, kAsset, kVerify).status, 0);
}

TEST(Credential, MissingOrEmptyIsMissingCredential) {
  expect_refusal(check_credential(std::nullopt, std::nullopt, kAsset, kVerify), 401, "missing_credential");
  expect_refusal(check_credential("", std::nullopt, kAsset, kVerify), 401, "missing_credential");
  expect_refusal(check_credential(std::nullopt, "", kAsset, kVerify), 401, "missing_credential");
}

TEST(Credential, ExpiredIsTokenExpired) {
  auto t = auth::sign_playback_token(kKey, kAsset, kNow - 1, "s1");
  expect_refusal(check_credential(t, std::nullopt, kAsset, kVerify), 401, "token_expired");
  // Expiry is exactly at exp (now >= exp).
  auto edge = auth::sign_playback_token(kKey, kAsset, kNow);
  expect_refusal(check_credential(std::nullopt, edge, kAsset, kVerify), 401, "token_expired");
}

TEST(Credential, AnotherAssetsTokenIsWrongAsset403) {
  expect_refusal(check_credential(good(kOther), std::nullopt, kAsset, kVerify), 403, "wrong_asset");
  expect_refusal(check_credential(std::nullopt, good(kOther), kAsset, kVerify), 403, "wrong_asset");
}

TEST(Credential, ForgedOrMalformedIsInvalidToken) {
  auto t = good();
  auto flipped = t;
  flipped[flipped.size() - 10] = flipped[flipped.size() - 10] == 'A' ? 'B' : 'A';
  expect_refusal(check_credential(flipped, std::nullopt, kAsset, kVerify), 401, "invalid_token");
  expect_refusal(check_credential("garbage", std::nullopt, kAsset, kVerify), 401, "invalid_token");
  auto other_key = auth::sign_playback_token({"k2", std::string(48, 's')}, kAsset, kNow + 60);
  expect_refusal(check_credential(other_key, std::nullopt, kAsset, kVerify), 401, "invalid_token");
  // A forged token claiming an expired time or another asset says nothing about either.
  auto forged_expired = auth::sign_playback_token({"k1", std::string(48, 'x')}, kAsset, kNow - 1);
  expect_refusal(check_credential(forged_expired, std::nullopt, kAsset, kVerify), 401, "invalid_token");
  auto forged_other = auth::sign_playback_token({"k1", std::string(48, 'x')}, kOther, kNow + 60);
  expect_refusal(check_credential(forged_other, std::nullopt, kAsset, kVerify), 401, "invalid_token");
}

TEST(Credential, QueryTokenWinsOverCookieEvenWhenBad) {
  auto t = good();
  expect_refusal(check_credential("garbage", t, kAsset, kVerify), 401, "invalid_token");
  expect_refusal(check_credential("", t, kAsset, kVerify), 401, "missing_credential");
  // A good query token is not spoiled by a bad cookie.
  EXPECT_TRUE(check_credential(t, "garbage", kAsset, kVerify).allowed());
}

TEST(Credential, PresentedTokenIsTheQueryWheneverPresent) {
  EXPECT_EQ(playback::presented_token("q", "c"), "q");
  EXPECT_EQ(playback::presented_token("", "c"), "");
  EXPECT_EQ(playback::presented_token(std::nullopt, "c"), "c");
  EXPECT_EQ(playback::presented_token(std::nullopt, std::nullopt), std::nullopt);
}

TEST(Credential, VerifierSeesTheChosenTokenAndTheAsset) {
  std::vector<std::pair<std::string, std::string>> seen;
  playback::TokenVerifier spy = [&](std::string_view token, std::string_view asset) {
    seen.emplace_back(token, asset);
    return auth::TokenStatus::ok;
  };
  EXPECT_TRUE(check_credential("q", "c", kAsset, spy).allowed());
  EXPECT_TRUE(check_credential(std::nullopt, "c", kAsset, spy).allowed());
  check_credential(std::nullopt, std::nullopt, kAsset, spy);  // missing: never verified
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("q"), kAsset));
  EXPECT_EQ(seen[1], std::make_pair(std::string("c"), kAsset));
}

// A rotation (auth/settings.h): the verifier holds the current key and the previous
// ones; a token of a previous key plays, one of a key no longer listed is a 401 like
// any invalid token.
TEST(Credential, PreviousKeysAreAcceptedAndARetiredKeyIs401) {
  auth::Settings s;
  s.signing_key_id = "new";
  s.signing_secret = std::string(40, 'n');
  s.previous_signing_keys = {kKey};
  const auto keys = auth::accepted_signing_keys(s);
  playback::TokenVerifier rotating = [&](std::string_view token, std::string_view asset) {
    return auth::verify_playback_token(keys, token, asset, kNow);
  };
  auto old_token = good();
  auto new_token = auth::sign_playback_token({s.signing_key_id, s.signing_secret}, kAsset, kNow + 60, "s2");
  EXPECT_TRUE(check_credential(old_token, std::nullopt, kAsset, rotating).allowed());
  EXPECT_TRUE(check_credential(std::nullopt, new_token, kAsset, rotating).allowed());

  s.previous_signing_keys.clear();  // k1 retired
  const auto retired = auth::accepted_signing_keys(s);
  playback::TokenVerifier after = [&](std::string_view token, std::string_view asset) {
    return auth::verify_playback_token(retired, token, asset, kNow);
  };
  expect_refusal(check_credential(old_token, std::nullopt, kAsset, after), 401, "invalid_token");
  EXPECT_TRUE(check_credential(new_token, std::nullopt, kAsset, after).allowed());
}
