// The caller's account (issue 12): who owns this key's assets, and the customer it
// is billed as. The billing customer id is the account id (docs: billing).
#include "api/common.h"
#include "core/json.h"

namespace rend::api {
namespace {

http::Response get_account(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "read");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  auto account = d.meta.get_account(std::get<store::ApiKey>(who).account_id);
  // Every key has an account (a foreign key), so this is only a race with an
  // operator's clean-up; say what is missing rather than fail.
  if (!account) return http::Response::error(404, "not_found", "this key's account no longer exists");
  boost::json::object billing{{"mode", d.billing_mode}, {"customer_id", account->id}};
  return json_response(200, boost::json::object{{"id", account->id},
                                                {"name", account->name},
                                                {"created_at", core::format_rfc3339_ms(account->created_at_ms)},
                                                {"billing", std::move(billing)}});
}

}  // namespace

void add_account_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/v1/account", [&d](http::Request& q) { return get_account(d, q); });
}

}  // namespace rend::api
