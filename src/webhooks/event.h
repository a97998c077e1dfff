#pragma once
// The body of a webhook request (docs/webhooks.md):
//   {"id": "evt_…", "type": "asset.ready", "created_at": "<RFC 3339>",
//    "account_id": "acc_…", "data": {"asset": <the GET /v1/assets/{id} object>}}
#include <boost/json.hpp>
#include <string>

#include "store/metadata.h"

namespace rend::webhooks {

std::string event_body(const store::WebhookDelivery& d, const boost::json::value& asset);

}  // namespace rend::webhooks
