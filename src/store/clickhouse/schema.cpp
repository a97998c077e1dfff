#include "store/clickhouse/schema.h"

#include <cctype>
#include <stdexcept>

namespace rend::store::clickhouse {

namespace {

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[i])) != std::toupper(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// Length of the quoted token starting at s[i] (which is the opening quote), honouring
// backslash escapes and doubled quotes; runs to the end on an unterminated quote.
size_t quoted_len(std::string_view s, size_t i) {
  char q = s[i];
  size_t j = i + 1;
  while (j < s.size()) {
    if (s[j] == '\\' && j + 1 < s.size()) {
      j += 2;
    } else if (s[j] == q) {
      if (j + 1 < s.size() && s[j + 1] == q) {
        j += 2;
      } else {
        return j + 1 - i;
      }
    } else {
      ++j;
    }
  }
  return s.size() - i;
}

}  // namespace

// Walks the SQL as schema_statements does (a quoted token is copied whole, via
// quoted_len); the two loops are a deliberate pair: what each does between quotes
// differs (split at ';' and drop comments here, rename the database there).
std::vector<std::string> split_statements(std::string_view sql) {
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      size_t n = quoted_len(sql, i);
      cur.append(sql.substr(i, n));
      i += n;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      auto nl = sql.find('\n', i);
      i = nl == std::string_view::npos ? sql.size() : nl;  // keep the newline as a separator
    } else if (c == ';') {
      if (auto t = trim(cur); !t.empty()) out.push_back(std::move(t));
      cur.clear();
      ++i;
    } else {
      cur += c;
      ++i;
    }
  }
  if (auto t = trim(cur); !t.empty()) out.push_back(std::move(t));
  return out;
}

bool valid_identifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!ident_char(c)) return false;
  return true;
}

std::vector<std::string> schema_statements(std::string_view schema_sql, const std::string& database) {
  // The name is spliced into DDL unquoted, so it must not be able to carry SQL.
  if (!valid_identifier(database))
    throw std::invalid_argument("clickhouse: database name must match [A-Za-z_][A-Za-z0-9_]*");
  constexpr std::string_view kDefault = "rend";
  std::vector<std::string> out;
  for (const auto& stmt : split_statements(schema_sql)) {
    const bool create_db = starts_with_icase(stmt, "CREATE DATABASE");
    // Same walk as split_statements (see there why the loops are two).
    std::string s;
    size_t i = 0;
    while (i < stmt.size()) {
      char c = stmt[i];
      if (c == '\'' || c == '"' || c == '`') {
        size_t n = quoted_len(stmt, i);
        s.append(stmt, i, n);
        i += n;
      } else if (ident_char(c)) {
        size_t j = i;
        while (j < stmt.size() && ident_char(stmt[j])) ++j;
        std::string_view word(stmt.data() + i, j - i);
        // `rend.` qualifies a table; a bare `rend` only names a database in CREATE DATABASE.
        bool qualifier = j < stmt.size() && stmt[j] == '.';
        if (word == kDefault && (qualifier || create_db)) s += database;
        else s.append(word);
        i = j;
      } else {
        s += c;
        ++i;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      case '\0': out += "\\0"; break;
      default: out += c;
    }
  }
  out += '\'';
  return out;
}

// The escapes below are TabSeparated's; core/log.cpp (JSON) and s3/xml.cpp (XML) have
// tables of the same shape for their formats: deliberate, each follows its own grammar.
std::vector<std::vector<std::string>> parse_tsv(std::string_view body) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool any = false;  // the current line has content (an empty final line is not a row)
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\\' && i + 1 < body.size()) {
      char n = body[++i];
      switch (n) {
        case 'n': field += '\n'; break;
        case 't': field += '\t'; break;
        case 'r': field += '\r'; break;
        case '0': field += '\0'; break;
        case 'b': field += '\b'; break;
        case 'f': field += '\f'; break;
        case 'a': field += '\a'; break;
        case 'v': field += '\v'; break;
        default: field += n;  // \\ \' and anything else stand for themselves
      }
      any = true;
    } else if (c == '\t') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace rend::store::clickhouse
