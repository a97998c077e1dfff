#include "readiness/page.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json.h"

namespace rend::readiness {
namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const boost::json::value* field(const boost::json::value& v, std::string_view k) {
  return v.is_object() ? v.as_object().if_contains(k) : nullptr;
}
std::string text(const boost::json::value& v, std::string_view k) {
  auto* f = field(v, k);
  return f && f->is_string() ? std::string(f->as_string()) : std::string();
}
std::optional<double> num(const boost::json::value* f) {
  if (!f) return std::nullopt;
  if (f->is_double()) return f->as_double();
  if (f->is_int64()) return double(f->as_int64());
  if (f->is_uint64()) return double(f->as_uint64());
  return std::nullopt;
}
std::string fmt_ms(std::optional<double> ms) {
  if (!ms) return "&mdash;";
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(*ms < 10 ? 1 : 0);
  o << *ms << " ms";
  return o.str();
}
// Status words come from the artifact: only the three known ones become a CSS class.
std::string status_class(const std::string& s) { return s == "pass" || s == "warn" || s == "fail" ? s : "fail"; }
std::string badge(const std::string& s) {
  return "<span class=\"badge " + status_class(s) + "\">" + esc(s.empty() ? "unknown" : s) + "</span>";
}
const boost::json::array& arr(const boost::json::value& v, std::string_view k) {
  static const boost::json::array kEmpty;
  auto* f = field(v, k);
  return f && f->is_array() ? f->as_array() : kEmpty;
}

// One row per timing: the measured bar against its warn and fail thresholds, the
// scale being each timing's own fail threshold (so very different timings share a chart).
std::string chart(const boost::json::value& a) {
  const auto& timings = arr(a, "timings");
  const int label_w = 210, bar_w = 420, row_h = 28, width = label_w + bar_w + 110;
  const int height = int(timings.size()) * row_h + 30;
  std::ostringstream o;
  o << "<svg id=\"timing-chart\" role=\"img\" aria-label=\"timings against thresholds\" width=\"" << width
    << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height << "\">";
  int y = 10;
  for (const auto& t : timings) {
    auto ms = num(field(t, "ms"));
    double warn = num(field(t, "warn_ms")).value_or(0), fail = num(field(t, "fail_ms")).value_or(0);
    // The fail threshold sits at 80% of the bar, so an over-fail value still shows beyond it.
    double scale = fail > 0 ? 0.8 * bar_w / fail : 0;
    auto x_of = [&](double v) { return label_w + std::min<double>(bar_w, std::max(0.0, v * scale)); };
    std::string st = status_class(text(t, "status"));
    const char* color = st == "pass" ? "#2e7d32" : st == "warn" ? "#ed6c02" : "#c62828";
    o << "<g class=\"timing " << st << "\" data-name=\"" << esc(text(t, "name")) << "\">";
    o << "<text x=\"0\" y=\"" << y + 15 << "\" font-size=\"13\" fill=\"#222\">" << esc(text(t, "name")) << "</text>";
    o << "<rect x=\"" << label_w << "\" y=\"" << y + 3 << "\" width=\"" << bar_w << "\" height=\"16\" fill=\"#eee\"/>";
    if (ms)
      o << "<rect class=\"bar\" x=\"" << label_w << "\" y=\"" << y + 3 << "\" width=\""
        << std::max(1.0, x_of(*ms) - label_w) << "\" height=\"16\" fill=\"" << color << "\"/>";
    o << "<line x1=\"" << x_of(warn) << "\" x2=\"" << x_of(warn) << "\" y1=\"" << y << "\" y2=\"" << y + 22
      << "\" stroke=\"#ed6c02\" stroke-width=\"2\"/>";
    o << "<line x1=\"" << x_of(fail) << "\" x2=\"" << x_of(fail) << "\" y1=\"" << y << "\" y2=\"" << y + 22
      << "\" stroke=\"#c62828\" stroke-width=\"2\"/>";
    o << "<text x=\"" << label_w + bar_w + 8 << "\" y=\"" << y + 15 << "\" font-size=\"13\" fill=\"#222\">"
      << fmt_ms(ms) << "</text></g>";
    y += row_h;
  }
  o << "<text x=\"" << label_w << "\" y=\"" << y + 14
    << "\" font-size=\"11\" fill=\"#555\">orange line: warn threshold, red line: fail threshold</text></svg>";
  return o.str();
}

std::string latest_section(const boost::json::value& a) {
  std::ostringstream o;
  o << "<section id=\"summary\"><h2>Latest run " << badge(text(a, "status")) << "</h2><p>Run <code>"
    << esc(text(a, "run_id")) << "</code>, target " << esc(text(a, "target")) << ", started "
    << esc(text(a, "started_at")) << ", took " << fmt_ms(num(field(a, "duration_ms"))) << ".</p></section>";

  o << "<section id=\"failures\"><h2>Failures</h2>";
  if (arr(a, "failures").empty()) o << "<p>None.</p>";
  else {
    o << "<ul>";
    for (const auto& f : arr(a, "failures"))
      if (f.is_string()) o << "<li>" << esc(f.as_string()) << "</li>";
    o << "</ul>";
  }
  if (!arr(a, "warnings").empty()) {
    o << "<h3>Warnings</h3><ul>";
    for (const auto& w : arr(a, "warnings"))
      if (w.is_string()) o << "<li>" << esc(w.as_string()) << "</li>";
    o << "</ul>";
  }
  o << "</section>";

  o << "<section id=\"edges\"><h2>Edges</h2><table><thead><tr><th>edge</th><th>region</th><th>status</th>"
       "<th>TTFB miss</th><th>TTFB hit</th><th>TTFB warmed hit</th><th>telemetry dropped</th>"
       "<th>telemetry rejected</th><th>spool bytes</th></tr></thead><tbody>";
  for (const auto& e : arr(a, "edges")) {
    auto* ttfb = field(e, "ttfb_ms");
    auto* tel = field(e, "telemetry");
    auto count = [&](std::string_view k) {
      auto v = tel ? num(field(*tel, k)) : std::nullopt;
      return v ? std::to_string(std::llround(*v)) : std::string("&mdash;");
    };
    o << "<tr data-edge=\"" << esc(text(e, "edge_id")) << "\"><td>" << esc(text(e, "edge_id")) << "</td><td>"
      << esc(text(e, "region")) << "</td><td>" << badge(text(e, "status")) << "</td><td>"
      << fmt_ms(ttfb ? num(field(*ttfb, "miss")) : std::nullopt) << "</td><td>"
      << fmt_ms(ttfb ? num(field(*ttfb, "hit")) : std::nullopt) << "</td><td>"
      << fmt_ms(ttfb ? num(field(*ttfb, "warmed_hit")) : std::nullopt) << "</td><td>" << count("dropped_delta")
      << "</td><td>" << count("rejected_delta") << "</td><td>" << count("spool_bytes") << "</td></tr>";
  }
  o << "</tbody></table></section>";

  o << "<section id=\"timings\"><h2>Timings against thresholds</h2>" << chart(a)
    << "<table><thead><tr><th>timing</th><th>measured</th><th>warn</th><th>fail</th><th>status</th></tr></thead><tbody>";
  for (const auto& t : arr(a, "timings"))
    o << "<tr><td>" << esc(text(t, "name")) << "</td><td>" << fmt_ms(num(field(t, "ms"))) << "</td><td>"
      << fmt_ms(num(field(t, "warn_ms"))) << "</td><td>" << fmt_ms(num(field(t, "fail_ms"))) << "</td><td>"
      << badge(text(t, "status")) << "</td></tr>";
  o << "</tbody></table>";
  if (auto* p = field(a, "bytes_per_delivered_minute_proxy")) {
    auto v = num(field(*p, "value"));
    o << "<p>Bytes per delivered minute (proxy, not billing): "
      << (v ? std::to_string(std::llround(*v)) : std::string("&mdash;")) << "</p>";
  }
  o << "</section>";

  o << "<section id=\"checks\"><h2>Checks</h2><table><thead><tr><th>check</th><th>edge</th><th>result</th>"
       "<th>detail</th></tr></thead><tbody>";
  for (const auto& c : arr(a, "checks")) {
    auto* ok = field(c, "ok");
    bool passed = ok && ok->is_bool() && ok->as_bool();
    o << "<tr><td>" << esc(text(c, "name")) << "</td><td>" << esc(text(c, "edge_id")) << "</td><td>"
      << badge(passed ? "pass" : "fail") << "</td><td>" << esc(text(c, "detail")) << "</td></tr>";
  }
  o << "</tbody></table></section>";
  return o.str();
}

}  // namespace

std::string render_page(const std::string& page_template, const std::string& latest,
                        const std::vector<std::string>& history) {
  std::string body;
  if (latest.empty()) {
    body = "<section id=\"summary\"><h2>No readiness run yet</h2><p>Run <code>rend readiness</code>.</p></section>";
  } else if (auto a = core::parse_json_strict(latest); a && a->is_object()) {
    body = latest_section(*a);
  } else {
    body = "<section id=\"summary\"><h2>" + badge("fail") +
           " The latest artifact is not valid JSON</h2><p>Run the gate again.</p></section>";
  }
  body +=
      "<section id=\"history\"><h2>Recent runs</h2><table><thead><tr><th>started</th><th>status</th>"
      "<th>target</th><th>failures</th><th>warnings</th></tr></thead><tbody>";
  for (const auto& h : history) {
    auto a = core::parse_json_strict(h);
    if (!a || !a->is_object()) continue;
    body += "<tr><td>" + esc(text(*a, "started_at")) + "</td><td>" + badge(text(*a, "status")) + "</td><td>" +
            esc(text(*a, "target")) + "</td><td>" + std::to_string(arr(*a, "failures").size()) + "</td><td>" +
            std::to_string(arr(*a, "warnings").size()) + "</td></tr>";
  }
  body += "</tbody></table></section>";
  std::string out = page_template;
  auto at = out.find("{{body}}");
  if (at != std::string::npos) out.replace(at, 8, body);
  return out;
}

std::vector<std::string> read_history(const std::string& runs_dir, size_t limit) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(runs_dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".json") files.push_back(e.path());
  std::ranges::sort(files, std::greater<>());
  if (files.size() > limit) files.resize(limit);
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

}  // namespace rend::readiness
