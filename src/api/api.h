#pragma once
// The control plane's HTTP surface (SPEC §4–5): uploads, assets, playback
// credentials, player bootstrap, the watch page, readiness.
#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <string>

#include "api/settings.h"
#include "billing/entitlements.h"
#include "billing/settings.h"
#include "core/clock.h"
#include "http/outbound.h"
#include "http/router.h"
#include "http/server.h"
#include "readiness/settings.h"
#include "routing/settings.h"
#include "store/analytics.h"
#include "store/billing_state.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"
#include "webhooks/settings.h"

namespace rend::api {

// Everything the handlers use; owned by the role, must outlive the router. (Its
// references look like worker::Worker's members: each role's bundle of the stores it
// was given, deliberately separate.)
struct ApiDeps {
  const Settings& cfg;
  store::MetadataStore& meta;
  store::ObjectStore& objects;
  store::Coordinator& coord;
  store::AnalyticsStore& analytics;
  const core::Clock& clock;
  const routing::Settings& routing;
  // REND_BILLING_MODE as GET /v1/account reports it (billing::mode_name of the settings).
  std::string_view billing_mode = "local";
  // Entitlement checks in front of uploads and playback (issue 12) and the feature ids
  // they ask about. Null (tests, tools): every check is allowed, as in local mode.
  billing::Entitlements* entitlements = nullptr;
  const billing::Settings* billing = nullptr;
  // The usage sync's ledger, for GET /v1/usage (503 when unset).
  store::BillingStateStore* billing_state = nullptr;
  // Appends Prometheus text to GET /metrics (operator scope): the usage sync's and the
  // entitlement checks' counters; unset: no /metrics route.
  std::function<void(std::string&)> render_metrics = {};
  // Customer URLs (webhook receivers, imports from a URL): the shape and address
  // checks at registration/creation use it (https only in production). The roles
  // copy ApiConfig::outbound here; every send is checked again at connect time.
  http::OutboundPolicy outbound = {};
  // Webhook delivery settings (unset: the defaults).
  const webhooks::Settings* webhooks = nullptr;
  // The readiness gate's operator page (GET /internal/readiness); unset: no such route.
  const readiness::PageSettings* readiness = nullptr;
};

std::shared_ptr<http::Router> make_router(const ApiDeps& deps);
// The GET /v1/assets/{id} object; webhook bodies carry it (webhooks::Dispatcher).
boost::json::value asset_resource(const store::Asset& a);
// CORS and common headers for every API response.
std::function<void(const http::Request&, http::Response&)> make_decorator(const Settings& cfg);

}  // namespace rend::api
