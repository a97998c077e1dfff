// The playback signing keys: the current one (signs) and the previous ones that are
// still accepted during a rotation (REND_PLAYBACK_PREVIOUS_SIGNING_KEYS).
#include "auth/settings.h"

#include <gtest/gtest.h>

#include <vector>

#include "auth/playback_token.h"

namespace rend::auth {
namespace {

const std::string kA(40, 'a'), kB(40, 'b'), kC(48, 'c');

Settings parse_with(std::map<std::string, std::string> vars) {
  return parse(core::Env(std::move(vars)), core::Deployment{});
}

std::string error_of(std::map<std::string, std::string> vars) {
  try {
    parse_with(std::move(vars));
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SigningKeys, WithoutPreviousKeysOnlyTheCurrentOneIsAccepted) {
  auto s = parse_with({{"REND_PLAYBACK_SIGNING_KEY_ID", "k2"}, {"REND_PLAYBACK_SIGNING_SECRET", kB}});
  EXPECT_TRUE(s.previous_signing_keys.empty());
  auto keys = accepted_signing_keys(s);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].id, "k2");
  EXPECT_EQ(keys[0].secret, kB);
}

TEST(SigningKeys, PreviousKeysAreAcceptedAfterTheCurrentOne) {
  auto s = parse_with({{"REND_PLAYBACK_SIGNING_KEY_ID", "k2"},
                       {"REND_PLAYBACK_SIGNING_SECRET", kB},
                       {"REND_PLAYBACK_PREVIOUS_SIGNING_KEYS", "k1=" + kA + ", k0=" + kC + "=="}});
  auto keys = accepted_signing_keys(s);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].id, "k2") << "the current key first";
  EXPECT_EQ(keys[1].id, "k1");
  EXPECT_EQ(keys[1].secret, kA);
  EXPECT_EQ(keys[2].id, "k0");
  EXPECT_EQ(keys[2].secret, kC + "==") << "a secret may contain '=' (base64)";

  // A token of the previous key verifies; one of a key not in the set does not.
  auto old = sign_playback_token({"k1", kA}, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 2'000'000'000);
  EXPECT_EQ(verify_playback_token(keys, old, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1'900'000'000), TokenStatus::ok);
  auto retired = sign_playback_token({"k9", kA}, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 2'000'000'000);
  EXPECT_EQ(verify_playback_token(keys, retired, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1'900'000'000),
            TokenStatus::unknown_key);
  // A known key id with another key's secret is a forgery, not a rotation.
  auto forged = sign_playback_token({"k1", kB}, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 2'000'000'000);
  EXPECT_EQ(verify_playback_token(keys, forged, "ast_aaaaaaaaaaaaaaaaaaaaaaaaaa", 1'900'000'000),
            TokenStatus::bad_signature);
}

TEST(SigningKeys, BadPreviousKeysAreRefusedNamingTheVariableWithoutTheSecret) {
  const std::map<std::string, std::string> base{{"REND_PLAYBACK_SIGNING_KEY_ID", "k2"},
                                                {"REND_PLAYBACK_SIGNING_SECRET", kB}};
  auto with = [&](const std::string& v) {
    auto vars = base;
    vars["REND_PLAYBACK_PREVIOUS_SIGNING_KEYS"] = v;
    return error_of(vars);
  };
  for (const std::string& bad : std::vector<std::string>{
           "k1=" + std::string(31, 'x'),     // secret too short
           "k1",                             // no secret
           "=" + kA,                         // no key id
           "k 1=" + kA,                      // key id outside [A-Za-z0-9_-]
           std::string(33, 'k') + "=" + kA,  // key id too long
           "k1=" + kA + ",k1=" + kC,         // duplicate id
           "k2=" + kA,                       // the current key's id
           "k1=" + kA + ",,k0=" + kC,        // an empty entry
       }) {
    auto err = with(bad);
    EXPECT_NE(err.find("REND_PLAYBACK_PREVIOUS_SIGNING_KEYS"), std::string::npos) << bad << " -> " << err;
    EXPECT_EQ(err.find(std::string(31, 'x')), std::string::npos) << "never the secret";
    EXPECT_EQ(err.find(kA), std::string::npos) << "never the secret";
    EXPECT_EQ(err.find(kC), std::string::npos) << "never the secret";
  }
}

TEST(SigningKeys, TheCurrentKeyIdMustBeUsable) {
  auto err = error_of({{"REND_PLAYBACK_SIGNING_KEY_ID", "has.dot"}, {"REND_PLAYBACK_SIGNING_SECRET", kB}});
  EXPECT_NE(err.find("REND_PLAYBACK_SIGNING_KEY_ID"), std::string::npos) << err;
}

}  // namespace
}  // namespace rend::auth
