#include "readiness/settings.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

namespace rend::readiness {
namespace {

constexpr const char* kDefaultLatest = ".rend/readiness/playback-readiness-latest.json";

std::string upper(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

std::string runs_dir_beside(const std::string& file) {
  auto parent = std::filesystem::path(file).parent_path();
  return (parent.empty() ? std::filesystem::path("runs") : parent / "runs").string();
}

bool http_url(const std::string& s) {
  static const std::regex kUrl("https?://[A-Za-z0-9.\\-\\[\\]:]+(/[^\\s?#]*)?");
  return std::regex_match(s, kUrl);
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Limit default_limit(std::string_view t) {
  if (t == "upload_response") return {5000, 30000};
  if (t == "upload_to_opener_playable") return {15000, 60000};
  if (t == "upload_to_hls_ready") return {60000, 300000};
  if (t == "playback_bootstrap") return {500, 3000};
  if (t == "edge_ttfb_miss") return {1000, 5000};
  if (t == "edge_ttfb_hit") return {250, 1500};
  if (t == "edge_ttfb_warmed_hit") return {250, 1500};
  if (t == "telemetry_visibility") return {15000, 60000};
  return {};
}

const Limit& Settings::limit(std::string_view timing) const {
  for (size_t i = 0; i < kTimingNames.size(); ++i)
    if (timing == kTimingNames[i]) return limits[i];
  throw std::logic_error("unknown readiness timing");
}

std::vector<EdgeTarget> parse_edges(const std::string& value, const std::string& var) {
  static const std::regex kId("[a-z0-9][a-z0-9-]{0,62}");
  static const std::regex kRegion("[a-z0-9-]{1,63}");
  std::vector<EdgeTarget> out;
  core::Env one(std::map<std::string, std::string>{{var, value}});
  for (const auto& entry : one.get_list(var)) {
    // Split on '=' only up to four fields: URLs may not contain '=' here (no query).
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t eq; (eq = entry.find('=', start)) != std::string::npos; start = eq + 1)
      parts.push_back(entry.substr(start, eq - start));
    parts.push_back(entry.substr(start));
    const std::string n = std::to_string(out.size() + 1);
    if (parts.size() < 3 || parts.size() > 4)
      throw core::ConfigError(var + ": entry " + n + " must be edge_id=region=public_base[=private_base]");
    EdgeTarget e{parts[0], parts[1], strip_slash(parts[2]), strip_slash(parts.size() == 4 ? parts[3] : parts[2])};
    if (!std::regex_match(e.id, kId)) throw core::ConfigError(var + ": entry " + n + " has an invalid edge_id");
    if (!std::regex_match(e.region, kRegion)) throw core::ConfigError(var + ": entry " + n + " has an invalid region");
    if (!http_url(e.public_base) || !http_url(e.private_base))
      throw core::ConfigError(var + ": entry " + n + " (" + e.id + ") needs http(s) base URLs without query");
    if (std::ranges::any_of(out, [&](const EdgeTarget& o) { return o.id == e.id; }))
      throw core::ConfigError(var + ": edge_id " + e.id + " is listed twice");
    out.push_back(std::move(e));
  }
  if (out.empty()) throw core::ConfigError(var + " must list at least one edge");
  return out;
}

Settings parse_common(const core::Env& env) {
  Settings s;
  for (size_t i = 0; i < kTimingNames.size(); ++i) {
    const std::string name = upper(kTimingNames[i]);
    const std::string warn_var = "REND_READINESS_WARN_" + name + "_MS",
                      fail_var = "REND_READINESS_FAIL_" + name + "_MS";
    auto def = default_limit(kTimingNames[i]);
    s.limits[i] = {env.get_u64(warn_var, def.warn_ms), env.get_u64(fail_var, def.fail_ms)};
    if (s.limits[i].warn_ms > s.limits[i].fail_ms) throw core::ConfigError(warn_var + " must not be above " + fail_var);
  }
  s.outputs.latest = env.get_or("REND_READINESS_LATEST_OUTPUT", kDefaultLatest);
  s.outputs.runs_dir = runs_dir_beside(s.outputs.latest);
  s.outputs.run_file = env.get_or("REND_READINESS_OUTPUT", "");
  return s;
}

Settings parse_configured(const core::Env& env) {
  auto s = parse_common(env);
  s.api_base_url = strip_slash(env.require("REND_API_BASE_URL"));
  if (!http_url(s.api_base_url)) throw core::ConfigError("REND_API_BASE_URL must be an http(s) URL without query");
  s.api_key = env.require("REND_READINESS_API_KEY");
  s.edge_internal_token = env.require("REND_EDGE_INTERNAL_TOKEN");
  s.edges = parse_edges(env.require("REND_READINESS_EDGES"), "REND_READINESS_EDGES");
  return s;
}

PageSettings parse_page(const core::Env& env) {
  PageSettings p;
  p.artifact_path = env.get_or("REND_READINESS_ARTIFACT_PATH", kDefaultLatest);
  p.runs_dir = runs_dir_beside(p.artifact_path);
  return p;
}

}  // namespace rend::readiness
