#include <cmath>

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

// Calls f(level, event, fields) with the event's fields; the field list is an
// initializer_list, so the optional distance needs two spellings.
template <class F>
auto with_fields(const GeoInput& geo, const Selection& sel, std::string_view playback_host, F&& f) {
  using core::log::Level;
  const std::string host = host_only(playback_host);
  const std::string_view reason = to_string(sel.reason);
  const bool coords = geo.valid_coordinates();
  if (sel.distance_km && std::isfinite(*sel.distance_km)) {
    const int64_t km = std::llround(*sel.distance_km);
    return f(Level::info, "rend_player_edge_selected",
             {{"request_id", geo.request_id},
              {"edge_region", geo.edge_region},
              {"country", geo.country},
              {"country_region", geo.country_region},
              {"continent", geo.continent},
              {"has_valid_coordinates", coords},
              {"route_id", sel.route_id},
              {"route_region", sel.region},
              {"reason", reason},
              {"playback_host", host},
              {"distance_km", km}});
  }
  return f(Level::info, "rend_player_edge_selected",
           {{"request_id", geo.request_id},
            {"edge_region", geo.edge_region},
            {"country", geo.country},
            {"country_region", geo.country_region},
            {"continent", geo.continent},
            {"has_valid_coordinates", coords},
            {"route_id", sel.route_id},
            {"route_region", sel.region},
            {"reason", reason},
            {"playback_host", host}});
}

}  // namespace

std::string format_selection_log(const GeoInput& geo, const Selection& selection, std::string_view playback_host) {
  return with_fields(geo, selection, playback_host,
                     [](core::log::Level l, std::string_view e, std::initializer_list<core::log::Field> f) {
                       return core::log::format(l, e, f);
                     });
}

void log_selection(const GeoInput& geo, const Selection& selection, std::string_view playback_host) {
  with_fields(geo, selection, playback_host,
              [](core::log::Level l, std::string_view e, std::initializer_list<core::log::Field> f) {
                core::log::write(l, e, f);
              });
}

}  // namespace rend::routing
