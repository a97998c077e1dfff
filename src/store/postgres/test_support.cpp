#include "store/postgres/test_support.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <vector>

#include "core/crypto.h"
#include "store/factory.h"
#include "store/postgres/metadata_store.h"
#include "store/postgres/pg.h"
#include "store/test_util.h"

namespace rend::store::postgres::testing {

namespace {

constexpr const char* kDbFile = "postgres_database";

// The same server and credentials as `url`, database `dbname`. Plain string surgery
// on the path component keeps query parameters (sslmode=...) intact.
std::string with_database(const std::string& url, const std::string& dbname) {
  const size_t authority = url.find("://") + 3;
  const size_t path = url.find('/', authority);
  if (path == std::string::npos) {
    const size_t query = url.find('?', authority);
    if (query == std::string::npos) return url + "/" + dbname;
    return url.substr(0, query) + "/" + dbname + url.substr(query);
  }
  const size_t query = url.find('?', path);
  return url.substr(0, path + 1) + dbname + (query == std::string::npos ? "" : url.substr(query));
}

void exec_on(const std::string& url, const std::string& sql) {
  const Target t = parse_target(url);
  Connection c(url, t);
  c.exec(sql);
}

// Created databases, dropped at process exit (after every test and store is gone).
// FORCE (Postgres 13+) also ends connections a failed test may have leaked.
struct Registry {
  std::mutex mu;
  std::string admin;
  std::vector<std::string> databases;
  ~Registry() {
    for (const auto& db : databases) {
      try {
        exec_on(admin, "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      } catch (const std::exception& e) {
        fprintf(stderr, "could not drop test database %s: %s\n", db.c_str(), e.what());
      }
    }
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::string admin_url() { return rend::store::testing::service_env("REND_TEST_POSTGRES_URL"); }

std::string database_url_for(const std::filesystem::path& dir) {
  const std::string admin = std::getenv("REND_TEST_POSTGRES_URL");
  auto& reg = registry();
  std::lock_guard lock(reg.mu);
  const auto file = dir / kDbFile;
  std::string name;
  if (std::ifstream in(file); in) in >> name;
  if (name.empty()) {
    // Lowercase hex: a valid unquoted identifier, and random so parallel test
    // processes (ctest -j) on one server never collide.
    name = "rend_test_" + core::hex_encode(core::random_bytes(8));
    // template0: template1 may be in use by another client, which makes CREATE fail.
    exec_on(admin, "CREATE DATABASE " + name + " TEMPLATE template0");
    reg.admin = admin;
    reg.databases.push_back(name);
    std::ofstream(file) << name << "\n";
  }
  return with_database(admin, name);
}

std::unique_ptr<MetadataStore> open_for_contract(const std::filesystem::path& dir) {
  if (admin_url().empty()) {
    [] { GTEST_SKIP() << "REND_TEST_POSTGRES_URL is not set"; }();
    return open_metadata_store("sqlite://" + (dir / "skipped.db").string());
  }
  return open_postgres_metadata_store(database_url_for(dir));
}

void admin_exec(const std::string& sql) { exec_on(std::getenv("REND_TEST_POSTGRES_URL"), sql); }

}  // namespace rend::store::postgres::testing
