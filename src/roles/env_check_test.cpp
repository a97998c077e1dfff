// The production env check: env file syntax, the production profile on top of the
// roles' own parsers, every problem reported once with its variable and file.
#include "roles/env_check.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace rend::roles;

namespace {

const std::string kSecretValue = "Zq7-not-a-placeholder-but-a-real-secret-9f3k";

// A complete production env for every role: api, worker and edge all pass it.
std::map<std::string, std::string> production() {
  return {
      {"REND_ENV", "production"},
      {"DATABASE_URL", "postgres://rend:" + kSecretValue + "@db.internal.example.net:5432/rend"},
      {"REND_REDIS_URL", "redis://redis.internal.example.net:6379/0"},
      {"S3_ENDPOINT", "https://s3.eu-west-1.amazonaws.com"},
      {"S3_BUCKET", "rend-media"},
      {"AWS_ACCESS_KEY_ID", "AKIAEXAMPLE7Q"},
      {"AWS_SECRET_ACCESS_KEY", kSecretValue},
      {"CLICKHOUSE_URL", "https://ch.example.net:8443"},
      {"CLICKHOUSE_USER", "rend"},
      {"CLICKHOUSE_PASSWORD", kSecretValue},
      {"REND_PLAYBACK_SIGNING_KEY_ID", "k2026"},
      {"REND_PLAYBACK_SIGNING_SECRET", kSecretValue},
      {"REND_EDGE_INTERNAL_TOKEN", kSecretValue + "-edge"},
      {"REND_INTERNAL_TELEMETRY_TOKEN", kSecretValue + "-telemetry"},
      {"REND_API_BIND_ADDR", "0.0.0.0:4000"},
      {"REND_API_PUBLIC_BASE_URL", "https://api.example.net"},
      {"REND_PLAYBACK_BASE_URL", "https://ash.edge.example.net"},
      {"REND_EXPECTED_EDGES", "ash-1=us-east=https://ash.edge.example.net,ams-1=eu-west=https://ams.edge.example.net"},
      {"REND_BILLING_MODE", "autumn"},
      {"AUTUMN_SECRET_KEY", "am_sk_live_" + std::string("R3alLiveKey0000")},
      {"REND_EDGE_BIND_ADDR", "0.0.0.0:4100"},
      {"REND_EDGE_INTERNAL_BIND_ADDR", "10.1.2.3:4101"},
      {"REND_EDGE_ID", "ash-1"},
      {"REND_EDGE_REGION", "us-east"},
      {"REND_EDGE_BASE_URL", "https://ash.edge.example.net"},
      {"REND_CONTROL_PLANE_URL", "https://api.example.net"},
      {"REND_EDGE_CACHE_DIR", "/var/cache/rend/edge"},
      {"REND_EDGE_TELEMETRY_SPOOL_DIR", "/var/lib/rend/telemetry-spool"},
  };
}

SourcedEnv sourced(const std::map<std::string, std::string>& vars, const std::string& file = "prod.env") {
  SourcedEnv out;
  for (const auto& [k, v] : vars) out[k] = {v, file};
  return out;
}

std::vector<EnvProblem> check(CheckRole role, const std::map<std::string, std::string>& vars, bool allow = false) {
  return check_role_env(role, sourced(vars), {.allow_dev_defaults = allow, .sources_label = "prod.env"});
}

std::string dump(const std::vector<EnvProblem>& ps) {
  std::string s;
  for (const auto& p : ps) s += format_problem(p) + "\n";
  return s;
}

std::vector<std::string> vars_of(const std::vector<EnvProblem>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.var);
  return out;
}

std::map<std::string, std::string> with(std::map<std::string, std::string> base,
                                        const std::map<std::string, std::string>& changes) {
  for (const auto& [k, v] : changes) base[k] = v;
  return base;
}

}  // namespace

TEST(EnvFile, ReadsKeyValueLinesWithoutExecutingThem) {
  SourcedEnv env;
  auto problems = parse_env_text(
      "# a comment\n"
      "\n"
      "A=1\n"
      "export B=two words\r\n"
      "C=\"quoted # not a comment\"\n"
      "D='single'  # trailing comment\n"
      "E=value # comment\n"
      "F=$(rm -rf /)\n"
      "G=\n"
      "  H = spaced\n",
      "f.env", env);
  EXPECT_TRUE(problems.empty()) << dump(problems);
  EXPECT_EQ(env["A"].value, "1");
  EXPECT_EQ(env["A"].source, "f.env");
  EXPECT_EQ(env["B"].value, "two words");
  EXPECT_EQ(env["C"].value, "quoted # not a comment");
  EXPECT_EQ(env["D"].value, "single");
  EXPECT_EQ(env["E"].value, "value");
  EXPECT_EQ(env["F"].value, "$(rm -rf /)");
  EXPECT_EQ(env["G"].value, "");
  EXPECT_EQ(env["H"].value, "spaced");
}

TEST(EnvFile, AMalformedLineIsNamedByNumberNeverByItsText) {
  SourcedEnv env;
  auto problems = parse_env_text("OK=1\nsecret-value-on-its-own\nQ=\"unterminated\nexport \nexport\n", "f.env", env);
  ASSERT_EQ(problems.size(), 4u) << dump(problems);
  EXPECT_EQ(format_problem(problems[2]), "f.env: line 4 is not KEY=value");
  EXPECT_EQ(format_problem(problems[3]), "f.env: line 5 is not KEY=value");
  EXPECT_EQ(format_problem(problems[0]), "f.env: line 2 is not KEY=value");
  EXPECT_EQ(problems[1].var, "Q");
  EXPECT_EQ(dump(problems).find("secret-value"), std::string::npos);
  EXPECT_EQ(env["OK"].value, "1");
}

TEST(EnvCheck, ACompleteProductionEnvPassesEveryRole) {
  for (auto role : {CheckRole::api, CheckRole::worker, CheckRole::edge})
    EXPECT_TRUE(check(role, production()).empty()) << role_name(role) << ":\n" << dump(check(role, production()));
}

TEST(EnvCheck, ReportsEveryProblemEachNamingItsVariableAndFile) {
  auto vars = with(production(), {{"REND_PLAYBACK_SIGNING_SECRET", "changeme"},
                                  {"S3_ENDPOINT", "http://minio:9000"},
                                  {"REND_API_BIND_ADDR", "nonsense"}});
  auto ps = check(CheckRole::api, vars);
  ASSERT_EQ(ps.size(), 3u) << dump(ps);
  EXPECT_EQ(vars_of(ps),
            (std::vector<std::string>{"S3_ENDPOINT", "REND_PLAYBACK_SIGNING_SECRET", "REND_API_BIND_ADDR"}))
      << dump(ps);
  for (const auto& p : ps) EXPECT_EQ(p.source, "prod.env");
  EXPECT_NE(dump(ps).find("placeholder"), std::string::npos);
  EXPECT_NE(dump(ps).find("local service host (minio)"), std::string::npos);
}

TEST(EnvCheck, ProblemsOnlyTheRoleParserKnowsAreAllCollected) {
  // Numbers of the right shape that the parsers refuse: each parser stops at the first.
  auto vars =
      with(production(),
           {{"REND_HTTP_MAX_CONNECTIONS", "0"}, {"REND_MAX_UPLOAD_BYTES", "0"}, {"REND_PLAYBACK_TOKEN_TTL_SECS", "5"}});
  auto ps = check(CheckRole::api, vars);
  EXPECT_EQ(vars_of(ps), (std::vector<std::string>{"REND_HTTP_MAX_CONNECTIONS", "REND_MAX_UPLOAD_BYTES",
                                                   "REND_PLAYBACK_TOKEN_TTL_SECS"}))
      << dump(ps);
  for (const auto& p : ps) EXPECT_TRUE(p.from_parser);
}

TEST(EnvCheck, PlaceholdersAreRefusedEvenWithDevDefaultsAllowed) {
  for (const std::string value :
       {"changeme", "<your-secret-here-padded-to-32-chars>", "xxx", "TODO-set-this-secret-before-deploying-it",
        "replace-me-with-a-32-character-secret"}) {
    auto ps = check(CheckRole::edge, with(production(), {{"REND_EDGE_INTERNAL_TOKEN", value}}), true);
    ASSERT_EQ(ps.size(), 1u) << value << "\n" << dump(ps);
    EXPECT_EQ(ps[0].var, "REND_EDGE_INTERNAL_TOKEN");
    EXPECT_NE(ps[0].message.find("placeholder"), std::string::npos);
  }
  auto ps = check(CheckRole::edge, with(production(), {{"AWS_ACCESS_KEY_ID", "AKIAxxxxxxxx"}}));
  EXPECT_TRUE(ps.empty()) << "x's inside a word are not a placeholder\n" << dump(ps);
  ps = check(CheckRole::edge, with(production(), {{"REND_EDGE_BASE_URL", "https://xxx.example.com"}}));
  EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_EDGE_BASE_URL"}) << dump(ps);
}

TEST(EnvCheck, ARequiredVariableMissingOrEmptyIsReported) {
  auto vars = production();
  vars.erase("REND_EXPECTED_EDGES");
  vars["CLICKHOUSE_PASSWORD"] = "";
  auto ps = check(CheckRole::api, vars);
  ASSERT_EQ(ps.size(), 2u) << dump(ps);
  EXPECT_EQ(format_problem(ps[0]), "prod.env: CLICKHOUSE_PASSWORD: is empty; required in production");
  EXPECT_EQ(ps[1].var, "REND_EXPECTED_EDGES");
  EXPECT_NE(ps[1].message.find("not set"), std::string::npos);
  // The worker needs neither.
  EXPECT_TRUE(check(CheckRole::worker, vars).empty()) << dump(check(CheckRole::worker, vars));
}

TEST(EnvCheck, DevDefaultsAndLocalHostsNeedTheFlag) {
  auto vars = with(production(), {{"REND_REDIS_URL", "redis://127.0.0.1:6379/0"},
                                  {"DATABASE_URL", "postgres://rend:change-me-local-postgres-password@postgres/rend"},
                                  {"REND_PLAYBACK_SIGNING_KEY_ID", "dev"}});
  auto ps = check(CheckRole::worker, vars);
  EXPECT_EQ(ps.size(), 4u) << dump(ps);  // the database URL: a dev secret and a local host
  EXPECT_TRUE(check(CheckRole::worker, vars, true).empty()) << dump(check(CheckRole::worker, vars, true));
  for (const std::string host : {"localhost", "[::1]", "rend-api", "rend-edge", "clickhouse"}) {
    auto p = check(CheckRole::edge, with(production(), {{"REND_CONTROL_PLANE_URL", "https://" + host + ":4000"}}));
    EXPECT_EQ(vars_of(p), std::vector<std::string>{"REND_CONTROL_PLANE_URL"}) << host << "\n" << dump(p);
  }
}

TEST(EnvCheck, TheDockerExampleShapeIsCheckedAsLocalWhenDevDefaultsAreAllowed) {
  std::map<std::string, std::string> local = {
      {"REND_ENV", "local"},
      {"DATABASE_URL", "postgres://rend:change-me-local-postgres-password@postgres:5432/rend"},
      {"REND_REDIS_URL", "redis://redis:6379/0"},
      {"S3_ENDPOINT", "http://minio:9000"},
      {"S3_BUCKET", "rend"},
      {"REND_PLAYBACK_SIGNING_SECRET", "change-me-local-playback-signing-secret-000000"},
      {"REND_EDGE_BASE_URL", "http://rend-edge:4100"},
      {"REND_BILLING_MODE", "local"},
  };
  for (auto role : {CheckRole::api, CheckRole::worker, CheckRole::edge})
    EXPECT_TRUE(check(role, local, true).empty()) << role_name(role) << "\n" << dump(check(role, local, true));
  // Without the flag the same file is checked as the production file it would have to be.
  auto ps = check(CheckRole::edge, local);
  auto vars = vars_of(ps);
  for (const char* v : {"REND_ENV", "REND_EDGE_INTERNAL_BIND_ADDR", "S3_ENDPOINT", "REND_EDGE_BASE_URL"})
    EXPECT_NE(std::ranges::find(vars, v), vars.end()) << v << "\n" << dump(ps);
}

TEST(EnvCheck, EdgeUrlsMustBeHttpsInProduction) {
  auto ps = check(CheckRole::api, with(production(), {{"REND_EXPECTED_EDGES", "ash-1=us-east=http://ash.example.net"},
                                                      {"REND_PLAYBACK_BASE_URL", "http://ash.example.net"}}));
  EXPECT_EQ(vars_of(ps), (std::vector<std::string>{"REND_PLAYBACK_BASE_URL", "REND_EXPECTED_EDGES"})) << dump(ps);
  ps = check(CheckRole::edge, with(production(), {{"REND_EDGE_BASE_URL", "http://ash.example.net"}}));
  EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_EDGE_BASE_URL"}) << dump(ps);
}

TEST(EnvCheck, ExpectedEdgesEntriesAreWellFormed) {
  for (const std::string bad : {"ash-1=https://a.example.net", "ash-1=us east=https://a.example.net",
                                "a=r=https://a.example.net,a=r2=https://b.example.net",
                                "a=r=https://a.example.net,b=r=https://a.example.net", "a=r=https://a.example.net/"}) {
    auto ps = check(CheckRole::api, with(production(), {{"REND_EXPECTED_EDGES", bad}}));
    EXPECT_FALSE(ps.empty()) << bad;
    for (const auto& p : ps) EXPECT_EQ(p.var, "REND_EXPECTED_EDGES") << bad << "\n" << dump(ps);
  }
}

TEST(EnvCheck, SecretsHaveMinimumLengthsAndAreNeverPrinted) {
  auto ps = check(CheckRole::api, with(production(), {{"REND_INTERNAL_TELEMETRY_TOKEN", "short-but-real-9f3k"},
                                                      {"AUTUMN_SECRET_KEY", "am_sk_test_Sandb0xKey77"},
                                                      {"CLICKHOUSE_PASSWORD", "tiny-9f3k"}}));
  EXPECT_EQ(vars_of(ps),
            (std::vector<std::string>{"CLICKHOUSE_PASSWORD", "REND_INTERNAL_TELEMETRY_TOKEN", "AUTUMN_SECRET_KEY"}))
      << dump(ps);
  auto text = dump(ps);
  for (const char* secret : {"short-but-real", "Sandb0xKey77", "tiny-9f3k"})
    EXPECT_EQ(text.find(secret), std::string::npos) << text;
  EXPECT_NE(text.find("live key"), std::string::npos) << text;  // billing's own rule
}

TEST(EnvCheck, BillingModeMustBeAutumnInProduction) {
  auto ps = check(CheckRole::worker, with(production(), {{"REND_BILLING_MODE", "local"}}));
  EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_BILLING_MODE"}) << dump(ps);
  // Even with dev defaults allowed the production profile keeps billing's rule.
  ps = check(CheckRole::worker, with(production(), {{"REND_BILLING_MODE", "local"}}), true);
  EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_BILLING_MODE"}) << dump(ps);
}

TEST(EnvCheck, ASecretPastedIntoTheWrongVariableIsNotEchoed) {
  // core's readers and several parsers echo a bad value ("got '...'"); a secret pasted
  // on the wrong line must still not reach the report.
  const std::string token = "pasted-token-Hid3me-000000000000000000";
  auto ps = check(CheckRole::api, with(production(), {{"REND_INTERNAL_TELEMETRY_TOKEN", token},
                                                      {"REND_EDGE_REGISTRY_MAX_EDGES", token},
                                                      {"REND_PLAYER_EDGE_BASE_URLS", "ash-1=" + token}}));
  ASSERT_EQ(vars_of(ps), (std::vector<std::string>{"REND_EDGE_REGISTRY_MAX_EDGES", "REND_PLAYER_EDGE_BASE_URLS"}))
      << dump(ps);
  EXPECT_EQ(dump(ps).find("Hid3me"), std::string::npos) << dump(ps);
}

TEST(EnvCheck, AMisspeltRendVariableInAFileIsReported) {
  auto ps = check(CheckRole::edge, with(production(), {{"REND_EDGE_CACH_DIR", "/x"}}));
  EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_EDGE_CACH_DIR"}) << dump(ps);
  // From the process environment (REND_BIN in tests) it is not.
  auto env = sourced(with(production(), {{"REND_BIN", "/x"}}));
  env["REND_BIN"].source = "environment";
  EXPECT_TRUE(check_role_env(CheckRole::edge, env, {}).empty());
}

TEST(EnvCheck, ShapesOfNumbersBooleansDurationsAndPaths) {
  auto ps = check(CheckRole::edge, with(production(), {{"REND_EDGE_TELEMETRY_ENABLED", "maybe"},
                                                       {"REND_EDGE_CACHE_MAX_BYTES", "10GB"},
                                                       {"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "soon"},
                                                       {"REND_EDGE_CACHE_DIR", "relative/cache"},
                                                       {"REND_EDGE_INTERNAL_BIND_ADDR", "10.0.0.1:99999"}}));
  EXPECT_EQ(ps.size(), 5u) << dump(ps);
}

TEST(EnvCheckAcrossRoles, SharedSecretsMustBeEqualWithoutPrintingThem) {
  auto api = sourced(production(), "api.env");
  auto edge = sourced(with(production(), {{"REND_EDGE_INTERNAL_TOKEN", "other-edge-token-Hid3me-0000000000000"},
                                          {"REND_PLAYBACK_SIGNING_KEY_ID", "k2027"}}),
                      "edge.env");
  auto ps = check_across_roles({{CheckRole::api, api}, {CheckRole::worker, api}, {CheckRole::edge, edge}});
  ASSERT_EQ(vars_of(ps), (std::vector<std::string>{"REND_PLAYBACK_SIGNING_KEY_ID", "REND_EDGE_INTERNAL_TOKEN"}))
      << dump(ps);
  EXPECT_EQ(format_problem(ps[1]),
            "edge.env: REND_EDGE_INTERNAL_TOKEN: differs from the api's (api.env); every role needs the same value");
  EXPECT_EQ(dump(ps).find("Hid3me"), std::string::npos);
  EXPECT_TRUE(check_across_roles({{CheckRole::api, api}, {CheckRole::edge, api}}).empty());
}

TEST(EnvCheckAcrossRoles, AnEdgeMustBeListedInTheApisExpectedEdges) {
  auto api = sourced(production(), "api.env");
  auto check_edge = [&](std::map<std::string, std::string> changes) {
    return check_across_roles(
        {{CheckRole::api, api}, {CheckRole::edge, sourced(with(production(), changes), "e.env")}});
  };
  EXPECT_TRUE(check_edge({{"REND_EDGE_ID", "ams-1"},
                          {"REND_EDGE_REGION", "eu-west"},
                          {"REND_EDGE_BASE_URL", "https://ams.edge.example.net"}})
                  .empty());
  auto ps = check_edge({{"REND_EDGE_ID", "fra-1"}});
  ASSERT_EQ(vars_of(ps), std::vector<std::string>{"REND_EDGE_ID"}) << dump(ps);
  EXPECT_EQ(format_problem(ps[0]), "e.env: REND_EDGE_ID: 'fra-1' is not listed in REND_EXPECTED_EDGES (api.env)");
  ps = check_edge({{"REND_EDGE_REGION", "us-west"}, {"REND_EDGE_BASE_URL", "https://other.example.net"}});
  EXPECT_EQ(vars_of(ps), (std::vector<std::string>{"REND_EDGE_REGION", "REND_EDGE_BASE_URL"})) << dump(ps);
  // Only the edge's own problems are about it: no list, nothing to compare.
  auto no_list = api;
  no_list.erase("REND_EXPECTED_EDGES");
  EXPECT_TRUE(
      check_across_roles({{CheckRole::api, no_list}, {CheckRole::edge, sourced(production(), "e.env")}}).empty());
}

TEST(EnvCheck, AMalformedModeIsOneProblem) {
  for (bool allow : {false, true}) {
    auto ps = check(CheckRole::api, with(production(), {{"REND_ENV", "prod"}}), allow);
    EXPECT_EQ(vars_of(ps), std::vector<std::string>{"REND_ENV"}) << allow << "\n" << dump(ps);
  }
}

TEST(EnvCheckAcrossRoles, AnEdgeFileWithItsOwnExpectedEdgesIsCheckedAlone) {
  auto ps = check_across_roles({{CheckRole::edge, sourced(with(production(), {{"REND_EDGE_ID", "fra-1"}}), "e.env")}});
  ASSERT_EQ(vars_of(ps), std::vector<std::string>{"REND_EDGE_ID"}) << dump(ps);
  EXPECT_EQ(format_problem(ps[0]), "e.env: REND_EDGE_ID: 'fra-1' is not listed in REND_EXPECTED_EDGES (e.env)");
}
