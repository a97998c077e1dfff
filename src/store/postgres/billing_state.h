#pragma once
#include <memory>
#include <string>

#include "store/billing_state.h"

namespace rend::store::postgres {

// The usage sync's state in schema `rend` of the metadata database (a small pool of
// its own; connections opened on first use). The metadata store's migrate() creates
// the tables. Throws std::invalid_argument for a non-postgres URL, without echoing it.
std::unique_ptr<BillingStateStore> open_postgres_billing_state_store(const std::string& database_url);

}  // namespace rend::store::postgres
