#include "auth/api_keys.h"

#include <gtest/gtest.h>

#include "core/crypto.h"
#include "core/ids.h"

using namespace rend::auth;
using Scopes = std::vector<std::string>;

TEST(ApiKeys, GenerateShapes) {
  auto k = generate_api_key();
  EXPECT_EQ(k.id.rfind("key_", 0), 0u);
  EXPECT_TRUE(rend::core::is_valid_id(k.id));
  EXPECT_EQ(k.secret.rfind("rend_sk_", 0), 0u);
  EXPECT_EQ(k.secret.size(), 8u + 43u);  // 32 bytes -> 43 base64url chars
  EXPECT_EQ(k.secret_hash, hash_api_key(k.secret));
  EXPECT_EQ(k.secret_hash.size(), 64u);
  EXPECT_EQ(k.secret_hash.find(k.secret), std::string::npos);
  auto k2 = generate_api_key();
  EXPECT_NE(k.id, k2.id);
  EXPECT_NE(k.secret, k2.secret);
  // The whole presented secret authenticates via the bearer path.
  EXPECT_TRUE(bearer_token("Bearer " + k.secret).has_value());
}

TEST(ApiKeys, HashIsSha256Hex) {
  EXPECT_EQ(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(hash_api_key("rend_sk_a"), hash_api_key("rend_sk_b"));
}

TEST(ApiKeys, AllScopes) {
  EXPECT_EQ(all_scopes(), (Scopes{"upload", "read", "delete", "analytics", "keys", "webhooks", "operator"}));
}

TEST(ApiKeys, OperatorIsGrantedOnlyByName) {
  // Operator views span every tenant: "all" (every customer-facing scope) leaves it out.
  EXPECT_EQ(parse_scopes("operator"), (Scopes{"operator"}));
  EXPECT_EQ(parse_scopes("analytics,operator"), (Scopes{"analytics", "operator"}));
  EXPECT_EQ(parse_scopes("all,operator"),
            (Scopes{"analytics", "delete", "keys", "operator", "read", "upload", "webhooks"}));
  EXPECT_FALSE(parse_scopes("Operator").has_value());
}

TEST(ApiKeys, ParseScopes) {
  EXPECT_EQ(parse_scopes("read"), (Scopes{"read"}));
  EXPECT_EQ(parse_scopes("upload,read"), (Scopes{"read", "upload"}));
  EXPECT_EQ(parse_scopes(" read ,\tupload , read"), (Scopes{"read", "upload"}));
  EXPECT_EQ(parse_scopes("all"), (Scopes{"analytics", "delete", "keys", "read", "upload", "webhooks"}));
  EXPECT_EQ(parse_scopes("read,all"), (Scopes{"analytics", "delete", "keys", "read", "upload", "webhooks"}));
  EXPECT_EQ(parse_scopes("keys"), (Scopes{"keys"}));
  EXPECT_EQ(parse_scopes("webhooks"), (Scopes{"webhooks"}));
  EXPECT_EQ(parse_scopes("delete,analytics,upload,read"), (Scopes{"analytics", "delete", "read", "upload"}));
}

TEST(ApiKeys, ParseScopesRejects) {
  for (const char* s : {"", " ", ",", "read,", ",read", "read,,upload", "admin", "read,admin", "READ", "Read",
                        "all,nope", "read upload", "read;upload", "*"})
    EXPECT_FALSE(parse_scopes(s).has_value()) << s;
}

TEST(ApiKeys, BearerToken) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_EQ(bearer_token("bEaReR abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer   abc"), "abc");
  EXPECT_EQ(bearer_token("  Bearer abc  "), "abc");
  EXPECT_EQ(bearer_token("Bearer rend_sk_A-b_9"), "rend_sk_A-b_9");
  EXPECT_EQ(bearer_token("Bearer v1.k1.1.ast_x.sig"), "v1.k1.1.ast_x.sig");
  EXPECT_EQ(bearer_token("Bearer a+b/c=="), "a+b/c==");
}

TEST(ApiKeys, BearerTokenRejects) {
  for (const char* h : {"",
                        "Bearer",
                        "Bearer ",
                        "Bearer    ",
                        "Bearerabc",
                        "Bearer\tabc",
                        "Basic abc",
                        "Token abc",
                        "Bearer a b",
                        "Bearer abc def",
                        "Bearer a\tb",
                        "Bearer =abc",
                        "Bearer ab=c",
                        "Bearer a,b",
                        "Bearer a\"b",
                        "Bearer: abc",
                        "Bearer a\r\nX-Evil: 1",
                        " abc",
                        "Bear abc",
                        "Bearers abc"})
    EXPECT_FALSE(bearer_token(h).has_value()) << h;
  EXPECT_FALSE(bearer_token(std::string("Bearer a\0b", 10)).has_value());
}

TEST(ApiKeys, InternalTokenMatches) {
  EXPECT_TRUE(internal_token_matches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(internal_token_matches("bearer  s3cret", "s3cret"));
  EXPECT_FALSE(internal_token_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(internal_token_matches("Bearer s3crett", "s3cret"));
  EXPECT_FALSE(internal_token_matches("Bearer S3CRET", "s3cret"));
  EXPECT_FALSE(internal_token_matches("s3cret", "s3cret"));
  EXPECT_FALSE(internal_token_matches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(internal_token_matches("", "s3cret"));
  // An unconfigured (empty) expected token never matches anything.
  EXPECT_FALSE(internal_token_matches("", ""));
  EXPECT_FALSE(internal_token_matches("Bearer ", ""));
  EXPECT_FALSE(internal_token_matches("Bearer x", ""));
}
