#pragma once
// Scratch databases for the Postgres store tests (contract and backend-specific).
//
// REND_TEST_POSTGRES_URL is an admin URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).
// Each test directory gets its own database, rend_test_<random>, created on first use
// and remembered in a file inside the directory, so every store opened on that
// directory shares it (as the API and a worker share one DATABASE_URL). The databases
// are dropped when the test process exits.
#include <filesystem>
#include <memory>
#include <string>

#include "store/metadata.h"

namespace rend::store::postgres::testing {

// The admin URL, or empty when unset (service_env has then already failed the test
// under REND_REQUIRE_SERVICES=1; the caller skips).
std::string admin_url();

// URL of `dir`'s scratch database, creating it if needed. Requires admin_url().
std::string database_url_for(const std::filesystem::path& dir);

// For the contract's kBackends: a store on `dir`'s database. Without a server it
// GTEST_SKIP()s the current test and returns a throwaway embedded store, because the
// contract fixture's SetUp() goes on to call migrate() on whatever comes back (the
// test body itself never runs).
std::unique_ptr<MetadataStore> open_for_contract(const std::filesystem::path& dir);

// Runs one statement as the admin (e.g. pg_terminate_backend) on the admin database.
void admin_exec(const std::string& sql);

}  // namespace rend::store::postgres::testing
