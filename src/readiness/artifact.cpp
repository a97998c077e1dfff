#include "readiness/artifact.h"

#include <boost/json.hpp>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "readiness/redact.h"

namespace fs = std::filesystem;

namespace rend::readiness {
namespace {

Status worst(Status a, Status b) { return static_cast<int>(a) > static_cast<int>(b) ? a : b; }

Status against(std::optional<double> ms, const Limit& l) {
  if (!ms) return Status::fail;
  if (*ms > double(l.fail_ms)) return Status::fail;
  if (*ms > double(l.warn_ms)) return Status::warn;
  return Status::pass;
}

boost::json::value ms_json(std::optional<double> ms) {
  if (!ms) return nullptr;
  return std::round(*ms * 10) / 10;  // 0.1 ms is plenty and keeps the file readable
}

boost::json::value opt_json(const std::optional<int64_t>& v) { return v ? boost::json::value(*v) : nullptr; }

std::string compact_utc(int64_t ms) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, int(ms % 1000));
  return out;
}

std::string iso_utc(int64_t ms) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, int(ms % 1000));
  return out;
}

void write_atomically(const std::string& path, const std::string& text) {
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write the readiness artifact " + tmp.string());
  }
  fs::rename(tmp, p);
}

}  // namespace

std::string_view to_string(Status s) {
  switch (s) {
    case Status::pass: return "pass";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
  }
  return "fail";
}

Status Timing::status() const { return against(ms, limit); }

Status Result::status() const {
  Status s = Status::pass;
  for (const auto& c : checks)
    if (!c.ok) s = Status::fail;
  for (const auto& t : timings) s = worst(s, t.status());
  return s;
}

Status Result::edge_status(const std::string& edge_id) const {
  Status s = Status::pass;
  for (const auto& c : checks)
    if (c.edge_id == edge_id && !c.ok) s = Status::fail;
  for (const auto& e : edges) {
    if (e.id != edge_id) continue;
    auto limit_of = [&](std::string_view n) {
      for (const auto& t : timings)
        if (t.name == n) return t.limit;
      return default_limit(n);
    };
    // A missing TTFB is already a failed check of this edge; only measured ones count here.
    auto add = [&](const std::optional<double>& ms, std::string_view n) {
      if (ms) s = worst(s, against(ms, limit_of(n)));
    };
    add(e.ttfb_miss_ms, "edge_ttfb_miss");
    add(e.ttfb_hit_ms, "edge_ttfb_hit");
    add(e.ttfb_warmed_hit_ms, "edge_ttfb_warmed_hit");
  }
  return s;
}

std::vector<std::string> Result::failures() const {
  std::vector<std::string> out;
  for (const auto& c : checks)
    if (!c.ok)
      out.push_back("check " + c.name + (c.edge_id.empty() ? "" : " (" + c.edge_id + ")") +
                    (c.detail.empty() ? "" : ": " + c.detail));
  for (const auto& t : timings)
    if (t.status() == Status::fail)
      out.push_back(t.ms ? "timing " + t.name + " " + std::to_string(std::lround(*t.ms)) + " ms is over its fail " +
                               "threshold " + std::to_string(t.limit.fail_ms) + " ms"
                         : "timing " + t.name + " was not measured");
  return out;
}

std::vector<std::string> Result::warnings() const {
  std::vector<std::string> out;
  for (const auto& t : timings)
    if (t.status() == Status::warn)
      out.push_back("timing " + t.name + " " + std::to_string(std::lround(*t.ms)) + " ms is over its warn threshold " +
                    std::to_string(t.limit.warn_ms) + " ms");
  return out;
}

std::string to_json(const Result& r) {
  boost::json::array checks, timings, edges, failures, warnings;
  for (const auto& c : r.checks) {
    boost::json::object o{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}};
    if (!c.edge_id.empty()) o["edge_id"] = c.edge_id;
    checks.push_back(std::move(o));
  }
  for (const auto& t : r.timings)
    timings.push_back({{"name", t.name},
                       {"ms", ms_json(t.ms)},
                       {"warn_ms", t.limit.warn_ms},
                       {"fail_ms", t.limit.fail_ms},
                       {"status", to_string(t.status())}});
  for (const auto& e : r.edges)
    edges.push_back({{"edge_id", e.id},
                     {"region", e.region},
                     {"status", to_string(r.edge_status(e.id))},
                     {"ttfb_ms",
                      {{"miss", ms_json(e.ttfb_miss_ms)},
                       {"hit", ms_json(e.ttfb_hit_ms)},
                       {"warmed_hit", ms_json(e.ttfb_warmed_hit_ms)}}},
                     {"telemetry",
                      {{"dropped_delta", opt_json(e.telemetry_dropped_delta)},
                       {"rejected_delta", opt_json(e.telemetry_rejected_delta)},
                       {"spool_bytes", opt_json(e.telemetry_spool_bytes)}}}});
  for (const auto& f : r.failures()) failures.push_back(boost::json::string(f));
  for (const auto& w : r.warnings()) warnings.push_back(boost::json::string(w));
  boost::json::object o{
      {"schema", "rend.playback-readiness.v1"},
      {"run_id", r.run_id},
      {"target", r.target},
      {"status", to_string(r.status())},
      {"started_at", iso_utc(r.started_at_ms)},
      {"finished_at", iso_utc(r.finished_at_ms)},
      {"duration_ms", r.finished_at_ms - r.started_at_ms},
      {"checks", std::move(checks)},
      {"timings", std::move(timings)},
      {"edges", std::move(edges)},
      {"failures", std::move(failures)},
      {"warnings", std::move(warnings)},
      {"bytes_per_delivered_minute_proxy",
       {{"value", r.bytes_per_delivered_minute_proxy
                      ? boost::json::value(std::round(*r.bytes_per_delivered_minute_proxy))
                      : boost::json::value(nullptr)},
        {"note", "edge bytes of this run per delivered minute, from analytics: a cost proxy, not billing"}}},
  };
  return boost::json::serialize(o) + "\n";
}

std::string write_artifacts(Result& r, const Outputs& out, const std::vector<std::string>& known_secrets) {
  std::string text = to_json(r);
  if (auto leak = find_leak(text, known_secrets)) {
    // Keep only what cannot carry a leak: ids, names, numbers, and why it was refused.
    for (auto& c : r.checks) c.detail.clear();
    r.checks.push_back({"artifact_redaction", "", false,
                        "the artifact contained a " + *leak + "; it was not written, details were dropped"});
    text = to_json(r);
    if (find_leak(text, known_secrets))
      throw std::runtime_error("the readiness artifact could not be redacted; nothing was written");
  }
  const std::string run_file =
      out.run_file.empty()
          ? (fs::path(out.runs_dir) / (compact_utc(r.started_at_ms) + "-" + r.run_id + ".json")).string()
          : out.run_file;
  write_atomically(run_file, text);
  write_atomically(out.latest, text);
  return run_file;
}

}  // namespace rend::readiness
