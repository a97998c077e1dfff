#pragma once
// The ClickHouse schema (clickhouse/schema.sql, compiled in) and the small amount of
// SQL text handling the HTTP interface needs: it takes one statement per request and
// has no bound parameters on 18.16, so statements are split and literals escaped here.
#include <string>
#include <string_view>
#include <vector>

namespace rend::store::clickhouse {

// clickhouse/schema.sql as it was at build time.
std::string_view embedded_schema_sql();

// Splits a script on `;` into statements, dropping `--` comments and blank statements.
// Quotes ('...', "...", `...`) are respected, so a `;` or `--` inside one is text.
std::vector<std::string> split_statements(std::string_view sql);

// True for names usable unquoted as a database name: [A-Za-z_][A-Za-z0-9_]*.
bool valid_identifier(std::string_view name);

// The schema's statements for `database` instead of the default `rend`: the name in
// CREATE DATABASE and every `rend.` qualifier outside quotes are replaced. Throws
// std::invalid_argument for a database name that is not a plain identifier.
std::vector<std::string> schema_statements(std::string_view schema_sql, const std::string& database);

// A ClickHouse string literal, quotes included (backslash escapes, as ClickHouse reads them).
std::string quote(std::string_view s);

// Rows of a TabSeparated response, fields unescaped.
std::vector<std::vector<std::string>> parse_tsv(std::string_view body);

}  // namespace rend::store::clickhouse
