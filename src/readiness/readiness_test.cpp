#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "readiness/artifact.h"
#include "readiness/page.h"
#include "readiness/redact.h"
#include "readiness/settings.h"

namespace rend::readiness {
namespace {

using core::ConfigError;
using core::Env;

// ---- the redaction scan ----

TEST(Redaction, CleanArtifactTextPasses) {
  EXPECT_EQ(find_leak(R"({"edge_id":"edge-london","region":"london","started_at":"2026-12-06T06:40:21.123Z",)"
                      R"("ms":12.5,"detail":"200 HIT, same length as the miss"})",
                      {"secret-api-key-123456"}),
            std::nullopt);
}

TEST(Redaction, RefusesEachShape) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"url", R"({"detail":"fetched https://edge-eu.example.com/v/ast_x/master.m3u8"})"},
      {"url", R"({"detail":"http://10-0-0-1.internal"})"},
      {"bearer", R"({"detail":"sent Bearer abc.def"})"},
      {"authorization", R"({"authorization":"x"})"},
      {"authorization", R"({"detail":"Authorization: x"})"},
      {"cookie", R"({"detail":"rend_playback=abc"})"},
      {"cookie", R"({"detail":"Set-Cookie was empty"})"},
      {"cookie", R"({"cookie":"x"})"},
      {"query_token", R"({"detail":"master.m3u8?token=abc"})"},
      {"query_token", R"({"detail":"seg.ts&sig=abc"})"},
      {"playback_token", R"({"detail":"v2.local.1765000000.ast_abcdefghijklmnopqrstuvwxyz.s1.sig"})"},
      {"ipv4", R"({"detail":"client 203.0.113.7 was refused"})"},
      {"ipv4", R"({"detail":"10.0.20.12:4100"})"},
      {"ipv6", R"({"detail":"client 2001:db8::1"})"},
      {"ipv6", R"({"detail":"[::1]:4100"})"},
  };
  for (const auto& [kind, text] : cases) EXPECT_EQ(find_leak(text, {}), kind) << text;
}

TEST(Redaction, RefusesEveryKnownSecretAndNamesNoValue) {
  const std::vector<std::string> secrets = {"rk_live_0123456789abcdef", "edge-internal-token-xyz",
                                            "edge-us.example.com"};
  for (const auto& s : secrets) {
    auto leak = find_leak(R"({"detail":"saw )" + s + R"( here"})", secrets);
    ASSERT_EQ(leak, "known_secret") << s;
    EXPECT_EQ(leak->find(s), std::string::npos);
  }
  // Short strings would match everything; they are not treated as secrets.
  EXPECT_EQ(find_leak(R"({"detail":"ok"})", {"ok"}), std::nullopt);
}

TEST(Redaction, DoesNotMistakeTimesOrDecimalsForAddresses) {
  EXPECT_EQ(find_leak(R"({"t":"06:40:21","ms":1234.5,"v":"1.2.3","d":"4 s H.264/AAC"})", {}), std::nullopt);
}

// ---- settings ----

Env configured_env() {
  return Env(std::map<std::string, std::string>{
      {"REND_API_BASE_URL", "https://api.example.com/"},
      {"REND_READINESS_API_KEY", "key-0123456789"},
      {"REND_EDGE_INTERNAL_TOKEN", "internal-0123456789"},
      {"REND_READINESS_EDGES",
       "edge-us=us-east=https://edge-us.example.com=http://10.0.10.12:4100,edge-eu=london=https://edge-eu.example.com"}});
}

TEST(Settings, ParsesConfiguredTarget) {
  auto s = parse_configured(configured_env());
  EXPECT_EQ(s.api_base_url, "https://api.example.com");
  ASSERT_EQ(s.edges.size(), 2u);
  EXPECT_EQ(s.edges[0].id, "edge-us");
  EXPECT_EQ(s.edges[0].region, "us-east");
  EXPECT_EQ(s.edges[0].public_base, "https://edge-us.example.com");
  EXPECT_EQ(s.edges[0].private_base, "http://10.0.10.12:4100");
  EXPECT_EQ(s.edges[1].private_base, "https://edge-eu.example.com");  // the public base serves both
  EXPECT_EQ(s.limit("edge_ttfb_hit").warn_ms, default_limit("edge_ttfb_hit").warn_ms);
  EXPECT_EQ(s.outputs.latest, ".rend/readiness/playback-readiness-latest.json");
  EXPECT_EQ(s.outputs.runs_dir, ".rend/readiness/runs");
}

void expect_error_naming(const Env& env, const std::string& var) {
  try {
    parse_configured(env);
    FAIL() << "expected a ConfigError naming " << var;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(var), std::string::npos) << e.what();
  }
}

TEST(Settings, EachRequiredVariableIsNamedWhenMissing) {
  for (const char* var :
       {"REND_API_BASE_URL", "REND_READINESS_API_KEY", "REND_EDGE_INTERNAL_TOKEN", "REND_READINESS_EDGES"}) {
    auto vars = configured_env().vars();
    vars.erase(var);
    expect_error_naming(Env(vars), var);
  }
}

TEST(Settings, BadEdgesAndThresholdsAreNamedWithoutSecrets) {
  for (const char* bad :
       {"edge-us=us-east", "Edge_US=us-east=https://a.example.com", "e=us-east=ftp://x",
        "e=r=https://a.example.com/?token=1", "e=r=https://a.example.com,e=r=https://b.example.com"}) {
    auto env = configured_env();
    env.set("REND_READINESS_EDGES", bad);
    expect_error_naming(env, "REND_READINESS_EDGES");
  }
  auto env = configured_env();
  env.set("REND_READINESS_WARN_EDGE_TTFB_MISS_MS", "9000");  // above the 5000 fail default
  expect_error_naming(env, "REND_READINESS_WARN_EDGE_TTFB_MISS_MS");
  env = configured_env();
  env.set("REND_READINESS_FAIL_TELEMETRY_VISIBILITY_MS", "soon");
  expect_error_naming(env, "REND_READINESS_FAIL_TELEMETRY_VISIBILITY_MS");
  env = configured_env();
  env.set("REND_API_BASE_URL", "api.example.com");
  try {
    parse_configured(env);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("key-0123456789"), std::string::npos);
  }
}

TEST(Settings, OutputsMoveTogether) {
  auto env = configured_env();
  env.set("REND_READINESS_LATEST_OUTPUT", "/srv/gate/latest.json");
  env.set("REND_READINESS_OUTPUT", "/srv/gate/this-run.json");
  auto s = parse_configured(env);
  EXPECT_EQ(s.outputs.runs_dir, "/srv/gate/runs");
  EXPECT_EQ(s.outputs.run_file, "/srv/gate/this-run.json");
  auto p =
      parse_page(Env(std::map<std::string, std::string>{{"REND_READINESS_ARTIFACT_PATH", "/srv/gate/latest.json"}}));
  EXPECT_EQ(p.artifact_path, "/srv/gate/latest.json");
  EXPECT_EQ(p.runs_dir, "/srv/gate/runs");
}

// ---- status and the artifact writer ----

Result healthy() {
  Result r;
  r.run_id = "abc";
  r.target = "configured";
  r.started_at_ms = 1765000000000;
  r.finished_at_ms = 1765000030000;
  r.checks = {{"edge_ready", "edge-eu", true, "readyz HTTP 200"}};
  for (const auto* n : kTimingNames) r.timings.push_back({n, 1.0, default_limit(n)});
  r.edges = {{"edge-eu", "london", 1.0, 0.5, 0.5, 0, 0, 0}};
  return r;
}

TEST(Status, PassWarnFail) {
  auto r = healthy();
  EXPECT_EQ(r.status(), Status::pass);
  r.timings[0].ms = double(r.timings[0].limit.warn_ms) + 1;
  EXPECT_EQ(r.status(), Status::warn);
  EXPECT_EQ(r.warnings().size(), 1u);
  r.timings[0].ms = double(r.timings[0].limit.fail_ms) + 1;
  EXPECT_EQ(r.status(), Status::fail);
  r = healthy();
  r.timings[3].ms = std::nullopt;  // not measured
  EXPECT_EQ(r.status(), Status::fail);
  r = healthy();
  r.checks.push_back({"edge_hit", "edge-eu", false, "HTTP 0"});
  EXPECT_EQ(r.status(), Status::fail);
  EXPECT_EQ(r.edge_status("edge-eu"), Status::fail);
  ASSERT_EQ(r.failures().size(), 1u);
  EXPECT_EQ(r.failures()[0], "check edge_hit (edge-eu): HTTP 0");
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("rend-readiness-" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(Artifact, WritesRunAndLatest) {
  TempDir dir;
  Outputs out{(dir.path / "latest.json").string(), (dir.path / "runs").string(), ""};
  auto r = healthy();
  auto file = write_artifacts(r, out, {"secret-key-0123"});
  EXPECT_TRUE(file.starts_with((dir.path / "runs").string()));
  EXPECT_EQ(read(file), read(out.latest));
  EXPECT_NE(read(out.latest).find(R"("status":"pass")"), std::string::npos);
}

TEST(Artifact, RefusesALeakAndFailsTheRun) {
  TempDir dir;
  Outputs out{(dir.path / "latest.json").string(), (dir.path / "runs").string(), (dir.path / "run.json").string()};
  auto r = healthy();
  r.checks.push_back({"bootstrap_answered", "", true, "saw secret-key-0123 in a header"});
  write_artifacts(r, out, {"secret-key-0123"});
  auto text = read(out.latest);
  EXPECT_EQ(text.find("secret-key-0123"), std::string::npos);
  EXPECT_NE(text.find(R"("status":"fail")"), std::string::npos);
  EXPECT_NE(text.find("artifact_redaction"), std::string::npos);
  EXPECT_EQ(r.status(), Status::fail);

  auto shaped = healthy();
  shaped.checks.push_back({"bootstrap_answered", "", true, "https://edge.example.com/v/x?token=1"});
  write_artifacts(shaped, out, {});
  EXPECT_EQ(read(out.latest).find("example.com"), std::string::npos);
  EXPECT_EQ(shaped.status(), Status::fail);
}

}  // namespace
}  // namespace rend::readiness

// ---- the operator page ----
namespace rend::readiness {
namespace {

TEST(Page, RendersTheLatestRunAndEscapesWhatTheArtifactSays) {
  auto r = healthy();
  r.checks.push_back({"edge_hit", "edge-eu", false, "<script>alert(1)</script>"});
  auto html = render_page("<main>{{body}}</main>", to_json(r), {to_json(r), "not json"});
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find(R"(<span class="badge fail">fail</span>)"), std::string::npos);
  EXPECT_NE(html.find(R"(<tr data-edge="edge-eu">)"), std::string::npos);
  EXPECT_NE(html.find(R"(<svg id="timing-chart")"), std::string::npos);
  // One chart row per timing, and the history lists the one parseable run.
  size_t rows = 0;
  for (size_t at = html.find("<g class=\"timing "); at != std::string::npos;
       at = html.find("<g class=\"timing ", at + 1))
    ++rows;
  EXPECT_EQ(rows, kTimingNames.size());
  auto history = html.substr(html.find("id=\"history\""));
  EXPECT_NE(history.find("2025-12-06T05:46:40.000Z"), std::string::npos);
}

TEST(Page, AStatusTheArtifactMadeUpIsNotAClassAndNoRunIsSaidPlainly) {
  auto html = render_page("{{body}}", R"({"status":"pass\" onclick=\"x","timings":[],"edges":[],"checks":[]})", {});
  EXPECT_EQ(html.find("onclick=\""), std::string::npos);
  EXPECT_NE(html.find(R"(class="badge fail")"), std::string::npos);
  EXPECT_NE(render_page("{{body}}", "", {}).find("No readiness run yet"), std::string::npos);
}

}  // namespace
}  // namespace rend::readiness
