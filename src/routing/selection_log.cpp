#include <cmath>
#include <vector>

#include "core/log.h"
#include "routing/routing.h"

namespace rend::routing {
namespace {

// host[:port] only, whatever the caller passes (a URL, a host, a host with a path).
std::string host_only(std::string_view s) {
  if (s.find("://") != std::string_view::npos) return url_authority(s);
  s = s.substr(0, s.find_first_of("/?#"));
  auto at = s.rfind('@');
  if (at != std::string_view::npos) s = s.substr(at + 1);
  return std::string(s);
}

// The seed's fields, and nothing else: no IPs, cookies, credentials, URLs or raw
// coordinates (only whether valid ones came, and the rounded distance).
std::vector<core::log::Field> fields(const GeoInput& geo, const Selection& sel, const std::string& host) {
  std::vector<core::log::Field> f{{"request_id", geo.request_id},    {"edge_region", geo.edge_region},
                                  {"country", geo.country},          {"country_region", geo.country_region},
                                  {"continent", geo.continent},      {"has_valid_coordinates", geo.valid_coordinates()},
                                  {"route_id", sel.route_id},        {"route_region", sel.region},
                                  {"reason", to_string(sel.reason)}, {"playback_host", host}};
  if (sel.distance_km && std::isfinite(*sel.distance_km))
    f.emplace_back("distance_km", static_cast<int64_t>(std::llround(*sel.distance_km)));
  return f;
}

}  // namespace

std::string format_selection_log(const GeoInput& geo, const Selection& selection, std::string_view playback_host) {
  return core::log::format(core::log::Level::info, "rend_player_edge_selected",
                           fields(geo, selection, host_only(playback_host)));
}

// Off the request's path (core::log::write_async): one line per bootstrap is the
// per-request audit the seed asks for, so every line is kept (no sampling); the
// bootstrap only renders it.
void log_selection(const GeoInput& geo, const Selection& selection, std::string_view playback_host) {
  core::log::write_async(core::log::Level::info, "rend_player_edge_selected",
                         fields(geo, selection, host_only(playback_host)));
}

}  // namespace rend::routing
