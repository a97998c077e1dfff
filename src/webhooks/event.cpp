#include "webhooks/event.h"

#include "core/clock.h"

namespace rend::webhooks {

std::string event_body(const store::WebhookDelivery& d, const boost::json::value& asset) {
  boost::json::object body{{"id", d.event_id},
                           {"type", d.event_type},
                           {"created_at", core::format_rfc3339_ms(d.event_created_at_ms)},
                           {"account_id", d.account_id},
                           {"data", boost::json::object{{"asset", asset}}}};
  return boost::json::serialize(body);
}

}  // namespace rend::webhooks
