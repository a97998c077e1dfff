#pragma once
// Player edge selection (SPEC §5): which public metal edge a player bootstrap
// (GET /api/player/{assetId}) points at, chosen from a checked-in route table and
// the CDN's request geo headers. No per-request control-plane lookup, no I/O except
// load_route_table(); everything else is a pure function.
//
// Precedence implemented by select_edge():
//
//   1. Forced fallback. REND_PLAYER_EDGE_BASE_URLS_MODE=fallback (which requires
//      REND_PLAYER_PLAYBACK_BASE_URL) sends every bootstrap to
//      REND_PLAYER_PLAYBACK_BASE_URL, the emergency single-edge base:
//      reason "fallback", empty route id/region, no distance. Nothing else is
//      consulted.
//   2. Empty route table. -> REND_PLAYER_PLAYBACK_BASE_URL (reason "fallback");
//      when that is unset too, a Selection with an empty base_url (reason
//      "fallback"), which tells the caller to use the legacy same-origin
//      artifact route /api/player/{assetId}/artifact/{path}.
//   3. Route by geo (first rule that matches):
//        a. valid coordinates (both present, finite, in range) -> the route with
//           the smallest great-circle distance (haversine, R = 6371.0088 km);
//           equal distances -> the smaller route id.          reason "nearest"
//        b. country (ISO alpha-2) listed by a route.           reason "country"
//        c. continent header equal to a route's continent;
//           several -> the smaller route id.                   reason "continent"
//        d. the table's default route.                         reason "default"
//      distance_km is set only for "nearest".
//   4. URL of that route. REND_PLAYER_EDGE_BASE_URLS has an entry for the chosen
//      route AND (not production OR REND_PLAYER_EDGE_BASE_URLS_MODE=override)
//      -> that URL, url_overridden = true, the reason stays the geo reason.
//      In production without MODE=override the overrides are ignored.
//      Otherwise the route's own base_url.
//   5. The URL from step 4 is not usable (not an http(s) base URL; only possible
//      with a hand-built table, load_route_table() rejects such routes)
//      -> as in step 2: REND_PLAYER_PLAYBACK_BASE_URL (reason "fallback", route
//      fields cleared) or an empty base_url (reason "fallback").
//
// So REND_PLAYER_PLAYBACK_BASE_URL, when routes exist, is used only when an
// operator says so explicitly (MODE=fallback) or when the chosen route has no
// usable URL; setting it alone never changes which edge a healthy table picks.
// Reason::override_url is kept for the seed's log vocabulary; select_edge() does
// not return it (an override is reported by url_overridden).
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/env.h"

namespace rend::routing {

// ---- Route table -----------------------------------------------------------------

struct Route {
  std::string id;                      // [a-z0-9-], 1..63 chars, unique
  std::string region;                  // non-empty, e.g. "us-east"
  std::string base_url;                // http(s)://host[:port][/path], no trailing '/', query, fragment or userinfo
  double latitude = 0;                 // [-90, 90]
  double longitude = 0;                // [-180, 180]
  std::vector<std::string> countries;  // ISO 3166-1 alpha-2, upper case; a country belongs to at most one route
  std::string continent;               // AF AN AS EU NA OC SA
  bool operator==(const Route&) const = default;
};

struct RouteTable {
  std::vector<Route> routes;
  std::string default_route_id;  // must name a route (when there are routes)
  const Route* find(std::string_view id) const;
  bool operator==(const RouteTable&) const = default;
};

// Parses and validates a route table document:
//   {"default_route_id": "ash-1",
//    "routes": [{"id", "region", "base_url", "latitude", "longitude",
//                "countries": [...], "continent"}, ...]}
// Unknown keys are rejected. Throws core::ConfigError naming `source` (a file name)
// on bad JSON, missing or mistyped fields, duplicate ids or countries,
// out-of-range coordinates, non-http(s) base URLs or a default that is not a route.
RouteTable parse_route_table(std::string_view json, const std::string& source);
// Reads `path` and parses it; an unreadable file is a ConfigError naming it.
RouteTable load_route_table(const std::string& path);
// The compiled-in table; identical to config/routes.json (rend_routing_test checks).
const RouteTable& builtin_route_table();

// Normalizes an http(s) base URL (strips one trailing '/'); nullopt when it is not
// "http(s)://host[:port][/path]" without query, fragment, userinfo or whitespace.
std::optional<std::string> normalize_base_url(std::string_view url);
// "https://ams-1.play.rend.so/x" -> "ams-1.play.rend.so" (host[:port], no userinfo,
// path or query); "" when `url` has no "scheme://".
std::string url_authority(std::string_view url);

// ---- Geo input ---------------------------------------------------------------------

// Request header names (lower case). Defaults are Vercel's; see cloudflare_geo_headers().
struct GeoHeaders {
  std::string latitude = "x-vercel-ip-latitude";
  std::string longitude = "x-vercel-ip-longitude";
  std::string country = "x-vercel-ip-country";
  std::string country_region = "x-vercel-ip-country-region";
  std::string continent = "x-rend-ip-continent";
  std::string request_id = "x-vercel-id";
  // Empty: derived from the request id the way Vercel's geolocation() does
  // ("cdg1::iad1::abc-123" -> "cdg1"); otherwise read from this header.
  std::string edge_region = "";
};
// cf-iplatitude, cf-iplongitude, cf-ipcountry, cf-region-code, cf-ipcontinent, cf-ray.
GeoHeaders cloudflare_geo_headers();

struct GeoInput {
  std::optional<double> latitude, longitude;  // both set or neither (read_geo)
  std::string country;                        // two upper-case letters, or empty
  std::string country_region;                 // 1..3 upper-case letters/digits, or empty
  std::string continent;                      // two upper-case letters, or empty
  std::string request_id;                     // [A-Za-z0-9:._-], at most 128 chars, or empty
  std::string edge_region;                    // [a-z0-9-], at most 32 chars, or empty
  bool valid_coordinates() const;
};

// Header lookup: name (lower case) -> value, nullopt when absent.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view)>;

// Strict parsing: coordinates must be plain finite decimal numbers (surrounding
// blanks allowed; no "nan", "inf", hex or '+'), lat in [-90, 90], lon in
// [-180, 180], and both present — otherwise both are absent. Country and continent
// are upper-cased and kept only when two letters ("XX", Cloudflare's unknown, is
// dropped). Values that fail their pattern are dropped, so nothing odd reaches logs.
GeoInput read_geo(const HeaderLookup& header, const GeoHeaders& names = {});

// ---- Selection -----------------------------------------------------------------------

double great_circle_km(double lat1, double lon1, double lat2, double lon2);

enum class Reason { override_url, fallback_url, nearest, country, continent, default_route };
// "override", "fallback", "nearest", "country", "continent", "default".
std::string_view to_string(Reason r);

struct Selection {
  std::string route_id, region;  // empty for reason fallback
  std::string base_url;          // empty: no direct edge, use the legacy same-origin route
  Reason reason = Reason::fallback_url;
  std::optional<double> distance_km;  // only for reason nearest
  bool url_overridden = false;        // base_url came from REND_PLAYER_EDGE_BASE_URLS
  bool has_edge() const { return !base_url.empty(); }
};

struct SelectionConfig {
  bool production = false;
  // REND_PLAYER_EDGE_BASE_URLS: route_id=base_url, comma separated.
  std::vector<std::pair<std::string, std::string>> base_url_overrides;
  bool overrides_mode_override = false;  // REND_PLAYER_EDGE_BASE_URLS_MODE=override
  bool force_fallback = false;           // REND_PLAYER_EDGE_BASE_URLS_MODE=fallback
  std::string fallback_base_url;         // REND_PLAYER_PLAYBACK_BASE_URL
};

Selection select_edge(const RouteTable& table, const GeoInput& geo, const SelectionConfig& config);

// Reads REND_PLAYER_EDGE_BASE_URLS, REND_PLAYER_EDGE_BASE_URLS_MODE and
// REND_PLAYER_PLAYBACK_BASE_URL. Throws core::ConfigError naming the variable on:
// an entry that is not route_id=base_url, a route id not in `table`, a repeated
// route id, a URL that is not an http(s) base URL (https only when `production`),
// a MODE other than "", "override" or "fallback", MODE=override without
// REND_PLAYER_EDGE_BASE_URLS, MODE=fallback without REND_PLAYER_PLAYBACK_BASE_URL.
SelectionConfig parse_selection_config(const core::Env& env, bool production,
                                       const RouteTable& table = builtin_route_table());

// ---- Cookie domain -------------------------------------------------------------------

// The Domain= attribute for the playback cookie: the configured domain
// (REND_PLAYBACK_COOKIE_DOMAIN, leading dot tolerated, case-insensitive) only when
// both the site host (Host of the bootstrap request) and the media host (host of
// the chosen base URL) are that domain or a subdomain of it on a label boundary
// ("evilrend.so" is not inside "rend.so"). Ports are stripped; IP addresses,
// single-label domains and malformed hosts never qualify. Otherwise nullopt
// (a host-only cookie).
std::optional<std::string> cookie_domain_for(std::string_view configured_domain, std::string_view site_host,
                                             std::string_view media_host);

// ---- Log event -----------------------------------------------------------------------

// The rend_player_edge_selected line, exactly these fields in this order:
// request_id, edge_region, country, country_region, continent,
// has_valid_coordinates, route_id, route_region, reason, playback_host,
// distance_km (rounded integer; absent when there is none).
// Never raw coordinates, IPs, cookies, tokens or URLs: playback_host is reduced to
// host[:port] even when given a URL.
std::string format_selection_log(const GeoInput& geo, const Selection& selection, std::string_view playback_host);
// Queues that line for stderr (core::log::write_async: written within milliseconds,
// off the request's path; core::log::flush() waits for it).
void log_selection(const GeoInput& geo, const Selection& selection, std::string_view playback_host);

}  // namespace rend::routing
