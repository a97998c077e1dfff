// The compiled-in route table. Keep identical to config/routes.json:
// rend_routing_test (RoutingTable.BuiltinMatchesConfigFile) fails otherwise.
#include "routing/routing.h"

namespace rend::routing {

const RouteTable& builtin_route_table() {
  static const RouteTable table{
      .routes =
          {
              Route{
                  .id = "ash-1",
                  .region = "us-east",
                  .base_url = "https://ash-1.play.rend.so",
                  .latitude = 39.0438,
                  .longitude = -77.4874,
                  .countries = {"US", "CA", "MX", "GL", "BM", "GT", "BZ", "SV", "HN", "NI", "CR", "PA",
                                "CU", "DO", "HT", "JM", "PR", "BS", "TT", "BB", "AG", "DM", "GD", "KN",
                                "LC", "VC", "AW", "CW", "KY", "TC", "VG", "VI", "CO", "VE", "EC", "PE",
                                "BO", "BR", "PY", "UY", "AR", "CL", "GY", "SR", "GF", "AU", "NZ", "FJ"},
                  .continent = "NA",
              },
              Route{
                  .id = "ams-1",
                  .region = "amsterdam",
                  .base_url = "https://ams-1.play.rend.so",
                  .latitude = 52.3676,
                  .longitude = 4.9041,
                  .countries = {"NL", "GB", "IE", "FR", "DE", "BE", "LU", "ES", "PT", "IT", "CH", "AT", "LI", "MC",
                                "SM", "VA", "AD", "MT", "DK", "NO", "SE", "FI", "IS", "EE", "LV", "LT", "PL", "CZ",
                                "SK", "HU", "SI", "HR", "BA", "RS", "ME", "MK", "AL", "RO", "BG", "GR", "CY", "MD",
                                "UA", "BY", "RU", "TR", "GE", "AM", "AZ", "FO", "GI", "IM", "JE", "GG", "IL", "PS",
                                "JO", "LB", "SY", "IQ", "IR", "SA", "AE", "QA", "BH", "KW", "OM", "YE", "EG", "LY",
                                "TN", "DZ", "MA", "SN", "GH", "NG", "CI", "KE", "ET", "TZ", "UG", "ZA", "ZW", "ZM",
                                "AO", "CM", "CD", "RW", "MU", "KZ", "UZ", "IN", "PK", "BD", "LK", "NP", "JP", "KR",
                                "CN", "TW", "HK", "SG", "MY", "TH", "VN", "PH", "ID"},
                  .continent = "EU",
              },
          },
      .default_route_id = "ash-1",
  };
  return table;
}

}  // namespace rend::routing
