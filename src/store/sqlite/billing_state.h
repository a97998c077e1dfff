#pragma once
#include <memory>
#include <string>

#include "store/billing_state.h"

namespace rend::store::sqlite {

// The usage sync's state in the metadata SQLite file at `path` (its own connection,
// serialized by a mutex; other processes on the file are kept apart by BEGIN
// IMMEDIATE). The metadata store's migrate() creates the tables.
std::unique_ptr<BillingStateStore> open_sqlite_billing_state_store(const std::string& path);

}  // namespace rend::store::sqlite
