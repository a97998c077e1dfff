// Unit tests for the ClickHouse SQL text helpers; the behaviour against a real server
// is covered by analytics_contract_test.cpp.
#include "store/clickhouse/schema.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "store/clickhouse/client.h"

namespace rend::store::clickhouse {
namespace {

TEST(ClickHouseSchema, SplitsOnSemicolonsOutsideQuotesAndDropsComments) {
  auto s = split_statements(
      "-- header; with a semicolon\n"
      "CREATE DATABASE IF NOT EXISTS rend;\n\n"
      "SELECT 'a;b', \"x--y\" -- trailing; comment\n"
      "FROM t;\n"
      " ; \n"
      "SELECT 'it\\'s;'");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], "CREATE DATABASE IF NOT EXISTS rend");
  EXPECT_EQ(s[1], "SELECT 'a;b', \"x--y\" \nFROM t");
  EXPECT_EQ(s[2], "SELECT 'it\\'s;'");
}

TEST(ClickHouseSchema, EmbeddedSchemaIsIdempotentDdlForTheConfiguredDatabase) {
  auto s = schema_statements(embedded_schema_sql(), "rend_test_abc");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "CREATE DATABASE IF NOT EXISTS rend_test_abc");
  EXPECT_EQ(s[1].rfind("CREATE TABLE IF NOT EXISTS rend_test_abc.playback_events", 0), 0u) << s[1];
  for (const auto& stmt : s) {
    EXPECT_EQ(stmt.find("rend."), std::string::npos) << stmt;
    EXPECT_EQ(stmt.find("--"), std::string::npos) << stmt;
    // 18.16 compatibility: no sub-second DateTime.
    EXPECT_EQ(stmt.find("DateTime64"), std::string::npos) << stmt;
  }
  EXPECT_EQ(schema_statements(embedded_schema_sql(), "rend"), split_statements(embedded_schema_sql()));
}

TEST(ClickHouseSchema, OnlyWholeIdentifiersOutsideQuotesAreRenamed) {
  auto s = schema_statements("CREATE TABLE rend.t (rendx String DEFAULT 'rend.x', y String) ENGINE = Memory", "db");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], "CREATE TABLE db.t (rendx String DEFAULT 'rend.x', y String) ENGINE = Memory");
}

TEST(ClickHouseSchema, RejectsDatabaseNamesThatAreNotPlainIdentifiers) {
  for (const char* bad : {"", "1db", "db;DROP DATABASE x", "a.b", "a-b", "a b", "`a`"})
    EXPECT_THROW(schema_statements(embedded_schema_sql(), bad), std::invalid_argument) << bad;
  EXPECT_TRUE(valid_identifier("rend_test_0f"));
}

TEST(ClickHouseSchema, QuotesLiterals) {
  EXPECT_EQ(quote("plain"), "'plain'");
  EXPECT_EQ(quote("it's \\ done"), "'it\\'s \\\\ done'");
}

TEST(ClickHouseSchema, ParsesTabSeparated) {
  auto rows = parse_tsv("a\t1\nb\\tc\\n\\\\\\'\t\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "1"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"b\tc\n\\'", ""}));
  EXPECT_TRUE(parse_tsv("").empty());
}

TEST(ClickHouseClient, RejectsUrlsWithCredentialsWithoutEchoingThem) {
  ClickHouseConfig c;
  c.url = "http://alice:s3cret@127.0.0.1:8123";
  try {
    Client client(c);
    FAIL() << "accepted a URL with credentials";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  }
  for (const char* bad : {"", "127.0.0.1:8123", "ftp://h", "http://", "http://h/?user=x"}) {
    c.url = bad;
    EXPECT_THROW(Client{c}, std::invalid_argument) << bad;
  }
  c.url = "http://127.0.0.1:8123/";
  c.user = "default\r\nX-Evil: 1";
  EXPECT_THROW(Client{c}, std::invalid_argument);
  c.user = "default";
  EXPECT_NO_THROW(Client{c});
}

TEST(ClickHouseClient, TransportErrorsDoNotLeakThePassword) {
  ClickHouseConfig c;
  c.url = "http://127.0.0.1:1";  // nothing listens on port 1
  c.password = "pw-do-not-print";
  c.timeout = std::chrono::milliseconds(2000);
  Client client(c);
  try {
    client.query("SELECT 1");
    FAIL() << "expected a transport error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("pw-do-not-print"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rend::store::clickhouse
