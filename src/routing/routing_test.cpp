#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <set>

#include "core/log.h"
#include "routing/routing.h"

namespace rend::routing {
namespace {

using core::ConfigError;
using core::Env;

// ---- helpers ---------------------------------------------------------------------

GeoInput coords(double lat, double lon) {
  GeoInput g;
  g.latitude = lat;
  g.longitude = lon;
  return g;
}

GeoInput headers(std::map<std::string, std::string> h, const GeoHeaders& names = {}) {
  return read_geo(
      [&](std::string_view name) -> std::optional<std::string_view> {
        auto it = h.find(std::string(name));
        if (it == h.end()) return std::nullopt;
        return std::string_view(it->second);
      },
      names);
}

Route route(std::string id, double lat, double lon, std::vector<std::string> countries = {},
            std::string continent = "EU") {
  return Route{
      id, id + "-region", "https://" + id + ".example.com", lat, lon, std::move(countries), std::move(continent)};
}

// Message of the ConfigError thrown by f ("" when none).
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path = (std::filesystem::temp_directory_path() /
            ("rend_routes_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".json"))
               .string();
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
};

const RouteTable& T() { return builtin_route_table(); }

// ---- distance --------------------------------------------------------------------

TEST(RoutingDistance, ParisNewYork) {
  EXPECT_NEAR(great_circle_km(48.8566, 2.3522, 40.7128, -74.0060), 5837, 10);
  EXPECT_NEAR(great_circle_km(40.7128, -74.0060, 48.8566, 2.3522), 5837, 10);  // symmetric
}

TEST(RoutingDistance, ZeroAndAntipodes) {
  EXPECT_DOUBLE_EQ(great_circle_km(52.3676, 4.9041, 52.3676, 4.9041), 0.0);
  const double half = std::numbers::pi * 6371.0088;
  EXPECT_NEAR(great_circle_km(0, 0, 0, 180), half, 1e-6);
  EXPECT_NEAR(great_circle_km(90, 0, -90, 0), half, 1e-6);
  EXPECT_NEAR(great_circle_km(39.0438, -77.4874, -39.0438, 102.5126), half, 1e-6);
  EXPECT_FALSE(std::isnan(great_circle_km(10, 20, -10, -160)));
}

// ---- geo headers -----------------------------------------------------------------

TEST(RoutingGeo, ReadsVercelHeaders) {
  auto g = headers({{"x-vercel-ip-latitude", "48.85661"},
                    {"x-vercel-ip-longitude", "2.35222"},
                    {"x-vercel-ip-country", "fr"},
                    {"x-vercel-ip-country-region", "idf"},
                    {"x-rend-ip-continent", "eu"},
                    {"x-vercel-id", "cdg1::iad1::abc12-1700000000000-0123456789ab"}});
  ASSERT_TRUE(g.valid_coordinates());
  EXPECT_DOUBLE_EQ(*g.latitude, 48.85661);
  EXPECT_DOUBLE_EQ(*g.longitude, 2.35222);
  EXPECT_EQ(g.country, "FR");
  EXPECT_EQ(g.country_region, "IDF");
  EXPECT_EQ(g.continent, "EU");
  EXPECT_EQ(g.request_id, "cdg1::iad1::abc12-1700000000000-0123456789ab");
  EXPECT_EQ(g.edge_region, "cdg1");  // derived from the request id, as Vercel's geolocation() does
}

TEST(RoutingGeo, InvalidCoordinatesAreAbsent) {
  auto bad = [](std::string lat, std::string lon) {
    std::map<std::string, std::string> h{{"x-vercel-ip-latitude", lat}, {"x-vercel-ip-longitude", lon}};
    return headers(h);
  };
  for (auto [lat, lon] : std::vector<std::pair<std::string, std::string>>{{"abc", "2.35"},
                                                                          {"91", "2.35"},
                                                                          {"-90.5", "0"},
                                                                          {"nan", "2.35"},
                                                                          {"48.85", "inf"},
                                                                          {"48.85", "181"},
                                                                          {"1e1", "2"},
                                                                          {"+48.8", "2.3"},
                                                                          {"0x10", "2"},
                                                                          {"48.", "2"},
                                                                          {".5", "2"},
                                                                          {"48.8 5", "2"},
                                                                          {"", "2.35"},
                                                                          {"48.85", ""},
                                                                          {"-", "2"}}) {
    auto g = bad(lat, lon);
    EXPECT_FALSE(g.valid_coordinates()) << lat << "," << lon;
    EXPECT_FALSE(g.latitude.has_value()) << lat << "," << lon;
    EXPECT_FALSE(g.longitude.has_value()) << lat << "," << lon;
  }
  // Only one of the two present.
  EXPECT_FALSE(headers({{"x-vercel-ip-latitude", "48.85"}}).valid_coordinates());
  EXPECT_FALSE(headers({{"x-vercel-ip-longitude", "2.35"}}).latitude.has_value());
  // Edges of the valid ranges and surrounding blanks are fine.
  EXPECT_TRUE(bad("-90", "180").valid_coordinates());
  EXPECT_TRUE(bad(" 90 ", "-180.0").valid_coordinates());
  EXPECT_TRUE(bad("0", "0").valid_coordinates());
}

TEST(RoutingGeo, ValidCoordinatesOnHandBuiltInput) {
  EXPECT_TRUE(coords(1, 2).valid_coordinates());
  EXPECT_FALSE(coords(NAN, 2).valid_coordinates());
  EXPECT_FALSE(coords(95, 2).valid_coordinates());
  GeoInput g;
  g.latitude = 1;
  EXPECT_FALSE(g.valid_coordinates());
}

TEST(RoutingGeo, CountryAndOtherFieldsAreSanitized) {
  EXPECT_EQ(headers({{"x-vercel-ip-country", "USA"}}).country, "");
  EXPECT_EQ(headers({{"x-vercel-ip-country", "U1"}}).country, "");
  EXPECT_EQ(headers({{"x-vercel-ip-country", "XX"}}).country, "");
  EXPECT_EQ(headers({{"x-vercel-ip-country", " de "}}).country, "DE");
  EXPECT_EQ(headers({{"x-rend-ip-continent", "Europe"}}).continent, "");
  EXPECT_EQ(headers({{"x-vercel-ip-country-region", "C\"A"}}).country_region, "");
  EXPECT_EQ(headers({{"x-vercel-id", "abc\" ,\"x\":1"}}).request_id, "");
  EXPECT_EQ(headers({{"x-vercel-id", "plainid"}}).edge_region, "");
  GeoInput empty = headers({});
  EXPECT_FALSE(empty.valid_coordinates());
  EXPECT_EQ(empty.country + empty.continent + empty.request_id + empty.edge_region, "");
}

TEST(RoutingGeo, ConfigurableHeaderNames) {
  auto cf = cloudflare_geo_headers();
  EXPECT_EQ(cf.latitude, "cf-iplatitude");
  auto g = headers({{"cf-iplatitude", "35.6762"},
                    {"cf-iplongitude", "139.6503"},
                    {"cf-ipcountry", "JP"},
                    {"cf-ipcontinent", "AS"},
                    {"cf-ray", "8a1b2c3d4e5f6789-NRT"},
                    {"x-vercel-ip-latitude", "1"}},
                   cf);
  EXPECT_TRUE(g.valid_coordinates());
  EXPECT_DOUBLE_EQ(*g.latitude, 35.6762);
  EXPECT_EQ(g.country, "JP");
  EXPECT_EQ(g.continent, "AS");
  EXPECT_EQ(g.request_id, "8a1b2c3d4e5f6789-NRT");
  EXPECT_EQ(g.edge_region, "");
  GeoHeaders custom;
  custom.edge_region = "x-edge-pop";
  EXPECT_EQ(headers({{"x-edge-pop", "FRA"}, {"x-vercel-id", "cdg1::x"}}, custom).edge_region, "fra");
}

// ---- selection by geo ------------------------------------------------------------

TEST(RoutingSelect, NearestParisAndNewYork) {
  auto paris = select_edge(T(), coords(48.85661, 2.35222), {});
  EXPECT_EQ(paris.route_id, "ams-1");
  EXPECT_EQ(paris.region, "amsterdam");
  EXPECT_EQ(paris.base_url, "https://ams-1.play.rend.so");
  EXPECT_EQ(paris.reason, Reason::nearest);
  ASSERT_TRUE(paris.distance_km);
  EXPECT_NEAR(*paris.distance_km, 430, 5);
  EXPECT_FALSE(paris.url_overridden);

  auto ny = select_edge(T(), coords(40.7128, -74.0060), {});
  EXPECT_EQ(ny.route_id, "ash-1");
  EXPECT_EQ(ny.region, "us-east");
  EXPECT_EQ(ny.base_url, "https://ash-1.play.rend.so");
  EXPECT_EQ(ny.reason, Reason::nearest);
  EXPECT_NEAR(*ny.distance_km, 350, 5);
}

TEST(RoutingSelect, NearestTokyoByDistance) {
  const double lat = 35.6762, lon = 139.6503;
  double ash = great_circle_km(lat, lon, 39.0438, -77.4874);
  double ams = great_circle_km(lat, lon, 52.3676, 4.9041);
  auto s = select_edge(T(), coords(lat, lon), {});
  EXPECT_EQ(s.reason, Reason::nearest);
  EXPECT_EQ(s.route_id, ams < ash ? "ams-1" : "ash-1");
  EXPECT_EQ(s.route_id, "ams-1");  // ~9288 km vs ~10874 km
  EXPECT_DOUBLE_EQ(*s.distance_km, std::min(ash, ams));
}

TEST(RoutingSelect, CoordinatesBeatCountry) {
  auto g = coords(40.7128, -74.0060);
  g.country = "FR";
  g.continent = "EU";
  EXPECT_EQ(select_edge(T(), g, {}).route_id, "ash-1");
}

TEST(RoutingSelect, NearestTieBrokenByRouteId) {
  RouteTable t{{route("zz-1", 0, 10), route("aa-1", 0, -10), route("mm-1", 50, 0)}, "mm-1"};
  auto s = select_edge(t, coords(0, 0), {});
  EXPECT_EQ(s.route_id, "aa-1");
  EXPECT_EQ(s.reason, Reason::nearest);
}

TEST(RoutingSelect, CountryFallback) {
  GeoInput g;
  g.country = "FR";
  g.continent = "NA";  // country wins over continent
  auto s = select_edge(T(), g, {});
  EXPECT_EQ(s.route_id, "ams-1");
  EXPECT_EQ(s.reason, Reason::country);
  EXPECT_FALSE(s.distance_km);
  // Read from headers with broken coordinates.
  auto h = headers({{"x-vercel-ip-latitude", "nan"}, {"x-vercel-ip-longitude", "2"}, {"x-vercel-ip-country", "br"}});
  auto b = select_edge(T(), h, {});
  EXPECT_EQ(b.route_id, "ash-1");
  EXPECT_EQ(b.reason, Reason::country);
}

TEST(RoutingSelect, ContinentFallback) {
  GeoInput g;
  g.country = "AQ";  // not listed by any route
  g.continent = "EU";
  auto s = select_edge(T(), g, {});
  EXPECT_EQ(s.route_id, "ams-1");
  EXPECT_EQ(s.reason, Reason::continent);
  EXPECT_FALSE(s.distance_km);
  // Several routes on one continent: the smaller id.
  RouteTable t{{route("fra-1", 50, 8, {}, "EU"), route("ams-1", 52, 4, {}, "EU"), route("ash-1", 39, -77, {}, "NA")},
               "ash-1"};
  GeoInput eu;
  eu.continent = "EU";
  EXPECT_EQ(select_edge(t, eu, {}).route_id, "ams-1");
}

TEST(RoutingSelect, DefaultRoute) {
  auto s = select_edge(T(), GeoInput{}, {});
  EXPECT_EQ(s.route_id, "ash-1");
  EXPECT_EQ(s.reason, Reason::default_route);
  EXPECT_FALSE(s.distance_km);
  GeoInput g;
  g.country = "AQ";
  g.continent = "AN";
  EXPECT_EQ(select_edge(T(), g, {}).reason, Reason::default_route);
  // A hand-built table whose default is missing: smallest id, still "default".
  RouteTable t{{route("zz-1", 0, 0), route("bb-1", 0, 0)}, "nope"};
  auto d = select_edge(t, GeoInput{}, {});
  EXPECT_EQ(d.route_id, "bb-1");
  EXPECT_EQ(d.reason, Reason::default_route);
}

TEST(RoutingSelect, InvalidCoordinateStringsFallThroughToCountry) {
  for (auto [lat, lon] : std::vector<std::pair<std::string, std::string>>{{"abc", "2"}, {"91", "2"}, {"nan", "2"}}) {
    auto g = headers({{"x-vercel-ip-latitude", lat}, {"x-vercel-ip-longitude", lon}, {"x-vercel-ip-country", "DE"}});
    auto s = select_edge(T(), g, {});
    EXPECT_EQ(s.reason, Reason::country) << lat;
    EXPECT_EQ(s.route_id, "ams-1");
  }
  auto only_lat = headers({{"x-vercel-ip-latitude", "48.85"}});
  EXPECT_EQ(select_edge(T(), only_lat, {}).reason, Reason::default_route);
}

TEST(RoutingSelect, ReasonNames) {
  EXPECT_EQ(to_string(Reason::override_url), "override");
  EXPECT_EQ(to_string(Reason::fallback_url), "fallback");
  EXPECT_EQ(to_string(Reason::nearest), "nearest");
  EXPECT_EQ(to_string(Reason::country), "country");
  EXPECT_EQ(to_string(Reason::continent), "continent");
  EXPECT_EQ(to_string(Reason::default_route), "default");
}

// ---- overrides and fallback ------------------------------------------------------

SelectionConfig overrides(bool production, bool mode_override) {
  SelectionConfig c;
  c.production = production;
  c.overrides_mode_override = mode_override;
  c.base_url_overrides = {{"ams-1", "http://127.0.0.1:4102"}, {"ash-1", "http://127.0.0.1:4101"}};
  return c;
}

TEST(RoutingOverride, HonouredOutsideProduction) {
  auto s = select_edge(T(), coords(48.85661, 2.35222), overrides(false, false));
  EXPECT_EQ(s.route_id, "ams-1");
  EXPECT_EQ(s.base_url, "http://127.0.0.1:4102");
  EXPECT_TRUE(s.url_overridden);
  EXPECT_EQ(s.reason, Reason::nearest);  // the geo reason stays
  EXPECT_TRUE(s.distance_km);
  // A route without an override entry keeps its own URL.
  SelectionConfig c;
  c.base_url_overrides = {{"ash-1", "http://127.0.0.1:4101"}};
  auto p = select_edge(T(), coords(48.85661, 2.35222), c);
  EXPECT_EQ(p.base_url, "https://ams-1.play.rend.so");
  EXPECT_FALSE(p.url_overridden);
}

TEST(RoutingOverride, IgnoredInProduction) {
  auto s = select_edge(T(), coords(48.85661, 2.35222), overrides(true, false));
  EXPECT_EQ(s.base_url, "https://ams-1.play.rend.so");
  EXPECT_FALSE(s.url_overridden);
  EXPECT_EQ(s.reason, Reason::nearest);
}

TEST(RoutingOverride, HonouredInProductionWithModeOverride) {
  auto c = overrides(true, true);
  c.base_url_overrides = {{"ash-1", "https://ash-1b.play.rend.so"}};
  GeoInput g;
  g.country = "US";
  auto s = select_edge(T(), g, c);
  EXPECT_EQ(s.route_id, "ash-1");
  EXPECT_EQ(s.base_url, "https://ash-1b.play.rend.so");
  EXPECT_TRUE(s.url_overridden);
  EXPECT_EQ(s.reason, Reason::country);
}

TEST(RoutingFallback, EmptyTableUsesFallbackUrl) {
  SelectionConfig c;
  c.fallback_base_url = "https://play.example.com";
  auto s = select_edge(RouteTable{}, coords(1, 2), c);
  EXPECT_EQ(s.base_url, "https://play.example.com");
  EXPECT_EQ(s.reason, Reason::fallback_url);
  EXPECT_EQ(s.route_id, "");
  EXPECT_FALSE(s.distance_km);
  EXPECT_TRUE(s.has_edge());
}

TEST(RoutingFallback, EmptyTableWithoutFallbackMeansLegacyRoute) {
  auto s = select_edge(RouteTable{}, coords(1, 2), {});
  EXPECT_FALSE(s.has_edge());
  EXPECT_EQ(s.base_url, "");
  EXPECT_EQ(s.reason, Reason::fallback_url);
}

TEST(RoutingFallback, FallbackUrlAloneDoesNotChangeAHealthyTable) {
  SelectionConfig c;
  c.fallback_base_url = "https://play.example.com";
  auto s = select_edge(T(), coords(48.85661, 2.35222), c);
  EXPECT_EQ(s.base_url, "https://ams-1.play.rend.so");
  EXPECT_EQ(s.reason, Reason::nearest);
}

TEST(RoutingFallback, ForcedFallbackWinsOverEverything) {
  auto c = overrides(false, false);
  c.fallback_base_url = "https://play.example.com";
  c.force_fallback = true;
  auto s = select_edge(T(), coords(48.85661, 2.35222), c);
  EXPECT_EQ(s.base_url, "https://play.example.com");
  EXPECT_EQ(s.reason, Reason::fallback_url);
  EXPECT_EQ(s.route_id, "");
  EXPECT_EQ(s.region, "");
  EXPECT_FALSE(s.url_overridden);
  EXPECT_FALSE(s.distance_km);
}

TEST(RoutingFallback, UnusableRouteUrl) {
  RouteTable t{{route("aa-1", 0, 0)}, "aa-1"};
  t.routes[0].base_url = "ftp://aa-1.example.com";
  SelectionConfig c;
  c.fallback_base_url = "https://play.example.com";
  auto s = select_edge(t, GeoInput{}, c);
  EXPECT_EQ(s.base_url, "https://play.example.com");
  EXPECT_EQ(s.reason, Reason::fallback_url);
  EXPECT_EQ(s.route_id, "");
  auto none = select_edge(t, GeoInput{}, {});
  EXPECT_FALSE(none.has_edge());
  EXPECT_EQ(none.reason, Reason::fallback_url);
  // An applicable override rescues it.
  c.base_url_overrides = {{"aa-1", "http://127.0.0.1:4100"}};
  auto o = select_edge(t, GeoInput{}, c);
  EXPECT_EQ(o.base_url, "http://127.0.0.1:4100");
  EXPECT_EQ(o.reason, Reason::default_route);
}

// ---- config parsing --------------------------------------------------------------

TEST(RoutingConfig, ParsesAllVariables) {
  Env env({{"REND_PLAYER_EDGE_BASE_URLS", " ams-1=http://127.0.0.1:4102/ , ash-1 = http://127.0.0.1:4101"},
           {"REND_PLAYER_PLAYBACK_BASE_URL", "http://127.0.0.1:4100"}});
  auto c = parse_selection_config(env, false);
  EXPECT_FALSE(c.production);
  ASSERT_EQ(c.base_url_overrides.size(), 2u);
  EXPECT_EQ(c.base_url_overrides[0], (std::pair<std::string, std::string>{"ams-1", "http://127.0.0.1:4102"}));
  EXPECT_EQ(c.base_url_overrides[1], (std::pair<std::string, std::string>{"ash-1", "http://127.0.0.1:4101"}));
  EXPECT_FALSE(c.overrides_mode_override);
  EXPECT_FALSE(c.force_fallback);
  EXPECT_EQ(c.fallback_base_url, "http://127.0.0.1:4100");

  auto empty = parse_selection_config(Env{}, true);
  EXPECT_TRUE(empty.production);
  EXPECT_TRUE(empty.base_url_overrides.empty());
  EXPECT_EQ(empty.fallback_base_url, "");

  auto prod = parse_selection_config(Env({{"REND_PLAYER_EDGE_BASE_URLS", "ash-1=https://ash-1b.play.rend.so"},
                                          {"REND_PLAYER_EDGE_BASE_URLS_MODE", "override"}}),
                                     true);
  EXPECT_TRUE(prod.overrides_mode_override);
  auto fb = parse_selection_config(Env({{"REND_PLAYER_PLAYBACK_BASE_URL", "https://play.rend.so"},
                                        {"REND_PLAYER_EDGE_BASE_URLS_MODE", "fallback"}}),
                                   true);
  EXPECT_TRUE(fb.force_fallback);
  EXPECT_EQ(select_edge(T(), coords(1, 1), fb).base_url, "https://play.rend.so");
}

TEST(RoutingConfig, ErrorsNameTheVariable) {
  auto err = [](std::map<std::string, std::string> vars, bool production = false) {
    return config_error([&] { parse_selection_config(Env(vars), production); });
  };
  const std::string urls = "REND_PLAYER_EDGE_BASE_URLS";
  for (auto bad : {"ams-1", "=http://x.example", "ams-1=", "ams-1=ftp://x.example", "ams-1=http://x.example/?a=1",
                   "ams-1=not a url", "ams-1=https://user:pw@x.example"}) {
    auto m = err({{urls, bad}});
    EXPECT_NE(m.find(urls), std::string::npos) << bad << ": " << m;
  }
  auto unknown = err({{urls, "lhr-1=http://127.0.0.1:4102"}});
  EXPECT_NE(unknown.find(urls), std::string::npos);
  EXPECT_NE(unknown.find("lhr-1"), std::string::npos);
  EXPECT_NE(err({{urls, "ams-1=http://a.example,ams-1=http://b.example"}}).find(urls), std::string::npos);
  // Production: https only.
  EXPECT_NE(err({{urls, "ams-1=http://a.example"}}, true).find(urls), std::string::npos);
  EXPECT_NE(err({{"REND_PLAYER_PLAYBACK_BASE_URL", "http://a.example"}}, true).find("REND_PLAYER_PLAYBACK_BASE_URL"),
            std::string::npos);
  EXPECT_NE(err({{"REND_PLAYER_PLAYBACK_BASE_URL", "a.example"}}).find("REND_PLAYER_PLAYBACK_BASE_URL"),
            std::string::npos);
  // Mode.
  const std::string mode = "REND_PLAYER_EDGE_BASE_URLS_MODE";
  EXPECT_NE(err({{mode, "always"}}).find(mode), std::string::npos);
  EXPECT_NE(err({{mode, "Override"}, {urls, "ams-1=http://a.example"}}).find(mode), std::string::npos);
  EXPECT_NE(err({{mode, "override"}}).find(mode), std::string::npos);
  auto fb = err({{mode, "fallback"}});
  EXPECT_NE(fb.find(mode), std::string::npos);
  EXPECT_NE(fb.find("REND_PLAYER_PLAYBACK_BASE_URL"), std::string::npos);
}

TEST(RoutingConfig, UnknownRouteIsCheckedAgainstTheGivenTable) {
  RouteTable t{{route("lhr-1", 51.5, -0.1)}, "lhr-1"};
  auto c = parse_selection_config(
      Env(std::map<std::string, std::string>{{"REND_PLAYER_EDGE_BASE_URLS", "lhr-1=http://127.0.0.1:4102"}}), false, t);
  EXPECT_EQ(c.base_url_overrides.size(), 1u);
  EXPECT_THROW(parse_selection_config(Env(std::map<std::string, std::string>{
                                          {"REND_PLAYER_EDGE_BASE_URLS", "ams-1=http://127.0.0.1:4102"}}),
                                      false, t),
               ConfigError);
}

// ---- cookie domain ---------------------------------------------------------------

TEST(RoutingCookie, BothHostsInsideTheDomain) {
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", "ams-1.play.rend.so"), "rend.so");
  EXPECT_EQ(cookie_domain_for("rend.so", "rend.so", "ash-1.play.rend.so"), "rend.so");
  EXPECT_EQ(cookie_domain_for(".Rend.SO", "WWW.rend.so:443", "ams-1.play.rend.so:8443"), "rend.so");
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so.", "ams-1.play.rend.so"), "rend.so");
  EXPECT_EQ(cookie_domain_for("play.rend.so", "a.play.rend.so", "ams-1.play.rend.so"), "play.rend.so");
}

TEST(RoutingCookie, NoDomainOtherwise) {
  EXPECT_EQ(cookie_domain_for("", "www.rend.so", "ams-1.play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "localhost:3000", "ams-1.play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", "127.0.0.1:4100"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("localhost", "localhost", "localhost:4100"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("127.0.0.1", "127.0.0.1", "127.0.0.1"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("0.1", "10.0.0.1", "10.0.0.1"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "[::1]:3000", "ams-1.play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "::1", "ams-1.play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "evilrend.so", "ams-1.play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", "ams-1.evilrend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", "rend.so.evil.com"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", "play.example.com"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("so", "rend.so", "play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so:443", "rend.so", "play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so:abc", "play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "a..rend.so", "play.rend.so"), std::nullopt);
  EXPECT_EQ(cookie_domain_for("rend.so", "a_b.rend.so", "play.rend.so"), std::nullopt);
}

TEST(RoutingCookie, MediaHostFromBaseUrl) {
  EXPECT_EQ(url_authority("https://ams-1.play.rend.so"), "ams-1.play.rend.so");
  EXPECT_EQ(url_authority("http://127.0.0.1:4100/x?y#z"), "127.0.0.1:4100");
  EXPECT_EQ(url_authority("ams-1.play.rend.so"), "");
  EXPECT_EQ(cookie_domain_for("rend.so", "www.rend.so", url_authority("https://ams-1.play.rend.so")), "rend.so");
}

// ---- log event -------------------------------------------------------------------

TEST(RoutingLog, FieldsExactlyAsTheSeed) {
  auto g = headers({{"x-vercel-ip-latitude", "48.85661"},
                    {"x-vercel-ip-longitude", "2.35222"},
                    {"x-vercel-ip-country", "FR"},
                    {"x-vercel-ip-country-region", "IDF"},
                    {"x-rend-ip-continent", "EU"},
                    {"x-vercel-id", "cdg1::iad1::abc12-1700000000000-0123456789ab"}});
  auto s = select_edge(T(), g, {});
  auto line = format_selection_log(g, s, url_authority(s.base_url));
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("event"), "rend_player_edge_selected");
  EXPECT_EQ(v.at("level"), "info");
  EXPECT_EQ(v.at("request_id"), "cdg1::iad1::abc12-1700000000000-0123456789ab");
  EXPECT_EQ(v.at("edge_region"), "cdg1");
  EXPECT_EQ(v.at("country"), "FR");
  EXPECT_EQ(v.at("country_region"), "IDF");
  EXPECT_EQ(v.at("continent"), "EU");
  EXPECT_EQ(v.at("has_valid_coordinates"), true);
  EXPECT_EQ(v.at("route_id"), "ams-1");
  EXPECT_EQ(v.at("route_region"), "amsterdam");
  EXPECT_EQ(v.at("reason"), "nearest");
  EXPECT_EQ(v.at("playback_host"), "ams-1.play.rend.so");
  ASSERT_TRUE(v.at("distance_km").is_int64());
  EXPECT_EQ(v.at("distance_km").as_int64(), std::llround(*s.distance_km));
  // Exactly these keys.
  std::set<std::string> keys;
  for (const auto& kv : v) keys.insert(std::string(kv.key()));
  EXPECT_EQ(keys, (std::set<std::string>{"ts", "level", "event", "request_id", "edge_region", "country",
                                         "country_region", "continent", "has_valid_coordinates", "route_id",
                                         "route_region", "reason", "playback_host", "distance_km"}));
  // No raw coordinates.
  EXPECT_EQ(line.find("48.85"), std::string::npos);
  EXPECT_EQ(line.find("2.352"), std::string::npos);
  EXPECT_EQ(line.find("latitude"), std::string::npos);
  EXPECT_EQ(line.find("longitude"), std::string::npos);
}

TEST(RoutingLog, NoDistanceWithoutCoordinatesAndHostOnly) {
  GeoInput g;
  g.country = "US";
  auto s = select_edge(T(), g, {});
  auto v = boost::json::parse(format_selection_log(g, s, "https://u:p@ash-1.play.rend.so/v/a/master.m3u8?token=x"))
               .as_object();
  EXPECT_FALSE(v.contains("distance_km"));
  EXPECT_EQ(v.at("has_valid_coordinates"), false);
  EXPECT_EQ(v.at("reason"), "country");
  EXPECT_EQ(v.at("playback_host"), "ash-1.play.rend.so");
  EXPECT_EQ(v.size(), 13u);
  auto plain = boost::json::parse(format_selection_log(g, s, "ash-1.play.rend.so/v/a?token=x")).as_object();
  EXPECT_EQ(plain.at("playback_host"), "ash-1.play.rend.so");
  // Fallback with no edge.
  auto f =
      boost::json::parse(format_selection_log(GeoInput{}, select_edge(RouteTable{}, GeoInput{}, {}), "")).as_object();
  EXPECT_EQ(f.at("reason"), "fallback");
  EXPECT_EQ(f.at("route_id"), "");
}

TEST(RoutingLog, LogSelectionWritesOneLine) {
  testing::internal::CaptureStderr();
  log_selection(coords(48.85661, 2.35222), select_edge(T(), coords(48.85661, 2.35222), {}), "ams-1.play.rend.so");
  core::log::flush();  // the line is written by the log's writer thread
  auto out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  EXPECT_NE(out.find("\"event\":\"rend_player_edge_selected\""), std::string::npos);
  EXPECT_EQ(out.find("48.85"), std::string::npos);
}

// ---- route table -----------------------------------------------------------------

TEST(RoutingTable, BuiltinShape) {
  const auto& t = T();
  EXPECT_EQ(t.default_route_id, "ash-1");
  ASSERT_EQ(t.routes.size(), 2u);
  const auto* ash = t.find("ash-1");
  const auto* ams = t.find("ams-1");
  ASSERT_TRUE(ash && ams);
  EXPECT_EQ(ash->region, "us-east");
  EXPECT_EQ(ash->base_url, "https://ash-1.play.rend.so");
  EXPECT_DOUBLE_EQ(ash->latitude, 39.0438);
  EXPECT_DOUBLE_EQ(ash->longitude, -77.4874);
  EXPECT_EQ(ash->continent, "NA");
  for (auto c : {"US", "CA", "MX", "BR"})
    EXPECT_NE(std::find(ash->countries.begin(), ash->countries.end(), c), ash->countries.end()) << c;
  EXPECT_EQ(ams->region, "amsterdam");
  EXPECT_EQ(ams->base_url, "https://ams-1.play.rend.so");
  EXPECT_DOUBLE_EQ(ams->latitude, 52.3676);
  EXPECT_DOUBLE_EQ(ams->longitude, 4.9041);
  EXPECT_EQ(ams->continent, "EU");
  for (auto c : {"NL", "GB", "FR", "DE"})
    EXPECT_NE(std::find(ams->countries.begin(), ams->countries.end(), c), ams->countries.end()) << c;
}

TEST(RoutingTable, BuiltinMatchesConfigFile) {
  auto file = load_route_table(REND_ROUTES_JSON);
  const auto& b = T();
  EXPECT_EQ(file.default_route_id, b.default_route_id);
  ASSERT_EQ(file.routes.size(), b.routes.size());
  for (size_t i = 0; i < b.routes.size(); ++i) {
    const auto &f = file.routes[i], &r = b.routes[i];
    EXPECT_EQ(f.id, r.id);
    EXPECT_EQ(f.region, r.region);
    EXPECT_EQ(f.base_url, r.base_url);
    EXPECT_EQ(f.countries, r.countries) << r.id;
    EXPECT_EQ(f.continent, r.continent);
    // Boost 1.81's JSON number parser may differ from the compiler by an ulp.
    EXPECT_NEAR(f.latitude, r.latitude, 1e-9);
    EXPECT_NEAR(f.longitude, r.longitude, 1e-9);
  }
  // The built-in table is itself valid: re-serialize it and parse it back.
  boost::json::array routes;
  for (const auto& r : b.routes) {
    boost::json::array cs;
    for (const auto& c : r.countries) cs.emplace_back(c);
    routes.emplace_back(boost::json::object{{"id", r.id},
                                            {"region", r.region},
                                            {"base_url", r.base_url},
                                            {"latitude", r.latitude},
                                            {"longitude", r.longitude},
                                            {"countries", cs},
                                            {"continent", r.continent}});
  }
  auto again = parse_route_table(boost::json::serialize(
                                     boost::json::object{{"default_route_id", b.default_route_id}, {"routes", routes}}),
                                 "builtin");
  EXPECT_EQ(again.routes.size(), b.routes.size());
}

TEST(RoutingTable, CountryListsAgreeWithNearestForTheirRoutes) {
  // Spot checks: a listed country's main city is nearest to the route listing it,
  // so a missing coordinate header does not change the edge.
  struct City {
    const char* country;
    double lat, lon;
  };
  for (auto c : {City{"JP", 35.68, 139.65}, City{"BR", -23.55, -46.63}, City{"AU", -33.87, 151.21},
                 City{"ZA", -26.2, 28.05}, City{"IN", 19.08, 72.88}, City{"GB", 51.51, -0.13}}) {
    GeoInput by_country;
    by_country.country = c.country;
    EXPECT_EQ(select_edge(T(), by_country, {}).route_id, select_edge(T(), coords(c.lat, c.lon), {}).route_id)
        << c.country;
  }
}

const char* kGood = R"({"default_route_id":"a-1","routes":[
  {"id":"a-1","region":"r","base_url":"https://a.example/","latitude":1,"longitude":2.5,"countries":["NL"],"continent":"EU"}]})";

TEST(RoutingTable, LoadsAFile) {
  TempFile f(kGood);
  auto t = load_route_table(f.path);
  ASSERT_EQ(t.routes.size(), 1u);
  EXPECT_EQ(t.routes[0].base_url, "https://a.example");  // trailing slash dropped
  EXPECT_DOUBLE_EQ(t.routes[0].latitude, 1.0);
  EXPECT_EQ(t.routes[0].countries, std::vector<std::string>{"NL"});
}

TEST(RoutingTable, LoadErrorsNameTheFile) {
  auto check = [](const std::string& text, const std::string& expect) {
    TempFile f(text);
    auto m = config_error([&] { load_route_table(f.path); });
    EXPECT_NE(m.find(f.path), std::string::npos) << m;
    EXPECT_NE(m.find(expect), std::string::npos) << "want '" << expect << "' in: " << m;
  };
  auto with = [](std::string from, std::string to) {
    std::string s = kGood;
    auto p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return s.replace(p, from.size(), to);
  };
  check("{not json", "not valid JSON");
  check("[]", "must be a JSON object");
  check(R"({"routes":[]})", "default_route_id");
  check(R"({"default_route_id":"a-1"})", "routes");
  check(with(R"("region":"r",)", ""), "missing \"region\"");
  check(with(R"("latitude":1)", R"("latitude":"1")"), "latitude");
  check(with(R"("latitude":1)", R"("latitude":91)"), "latitude must be within");
  check(with(R"("longitude":2.5)", R"("longitude":-180.5)"), "longitude must be within");
  check(with("https://a.example/", "ftp://a.example"), "base_url");
  check(with("https://a.example/", "a.example"), "base_url");
  check(with("https://a.example/", "https://a.example/?x=1"), "base_url");
  check(with(R"("default_route_id":"a-1")", R"("default_route_id":"b-1")"), "default_route_id \"b-1\" is not a route");
  check(with(R"(["NL"])", R"(["nl"])"), "countries");
  check(with(R"(["NL"])", R"(["NLD"])"), "countries");
  check(with(R"("EU")", R"("Europe")"), "continent");
  check(with(R"("id":"a-1")", R"("id":"A 1")"), "id");
  check(with(R"("region":"r",)", R"("region":"r","weight":2,)"), "unknown key \"weight\"");
  std::string dup = kGood;
  dup.insert(
      dup.rfind(']'),
      R"(,{"id":"a-1","region":"r2","base_url":"https://b.example","latitude":0,"longitude":0,"countries":[],"continent":"EU"})");
  check(dup, "duplicate route id \"a-1\"");
  std::string dup_country = kGood;
  dup_country.insert(
      dup_country.rfind(']'),
      R"(,{"id":"b-1","region":"r2","base_url":"https://b.example","latitude":0,"longitude":0,"countries":["NL"],"continent":"EU"})");
  check(dup_country, "country NL is listed by both");
}

TEST(RoutingTable, MissingFileNamesIt) {
  auto m = config_error([] { load_route_table("/nonexistent/rend/routes.json"); });
  EXPECT_NE(m.find("/nonexistent/rend/routes.json"), std::string::npos) << m;
}

TEST(RoutingTable, EmptyTableIsAllowed) {
  auto t = parse_route_table(R"({"default_route_id":"","routes":[]})", "x.json");
  EXPECT_TRUE(t.routes.empty());
}

TEST(RoutingTable, BaseUrlNormalization) {
  EXPECT_EQ(normalize_base_url("https://a.example/"), "https://a.example");
  EXPECT_EQ(normalize_base_url("http://127.0.0.1:4100"), "http://127.0.0.1:4100");
  EXPECT_EQ(normalize_base_url("http://[::1]:4100/edge"), "http://[::1]:4100/edge");
  for (auto bad : {"", "https://", "https:///x", "https://a.example:0", "https://a.example:70000",
                   "https://a.example:", "https://a b.example", "https://u@a.example", "https://a.example#f",
                   "https://a.example//", "HTTPS://a.example", "javascript:alert(1)", "https://[zz]:1"})
    EXPECT_EQ(normalize_base_url(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace rend::routing
