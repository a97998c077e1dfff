#pragma once
// The production env check (issue 14): `rend env check` and the same check every role
// runs at start when REND_ENV=production. It reuses the roles' real parsers
// (roles/settings.h) for every shape they know, and adds the production profile on
// top: required variables, placeholders, checked-in dev defaults, local service
// hosts, HTTPS edge URLs, secret lengths. Every problem is collected, each naming
// the variable and where its value came from; a value is never printed.
#include <map>
#include <string>
#include <vector>

namespace rend::roles {

enum class CheckRole { api, worker, edge };
const char* role_name(CheckRole r);

// One variable's value and where it came from: a file path, or "environment".
struct SourcedValue {
  std::string value;
  std::string source;
};
using SourcedEnv = std::map<std::string, SourcedValue>;

struct EnvProblem {
  std::string source;  // the file (or "environment"); for a missing variable, the files read
  std::string var;     // empty only when a parser error names no known variable
  std::string message;
  bool from_parser = false;  // the role's own settings parser refused it
};

// `KEY=value` lines as Docker Compose and systemd read them: blank lines and
// `# comments` skipped, an optional `export `, optional matching single or double
// quotes around the value, ` # comment` after an unquoted value. Nothing is expanded
// or executed. Malformed lines are problems naming the line number (never its text:
// it may hold a secret). Later assignments override earlier ones.
struct EnvFileResult {
  bool readable = true;
  std::vector<EnvProblem> problems;
};
EnvFileResult read_env_file(const std::string& path, SourcedEnv& into);
// The same for text already in memory (unit tests).
std::vector<EnvProblem> parse_env_text(const std::string& text, const std::string& source, SourcedEnv& into);

// The process environment layered over `into` (source "environment").
void overlay_process_env(SourcedEnv& into);

struct CheckOptions {
  // Accept checked-in dev defaults and local service hosts (the example files'
  // dry run), and run the role's parser in the mode the file declares.
  bool allow_dev_defaults = false;
  std::string data_dir = ".rend/dev";
  // What a missing variable is reported against (the files read for this role).
  std::string sources_label = "environment";
  // Report REND_* names that are not a Rend setting. Only for files: the process
  // environment carries unrelated REND_* variables (REND_BIN in tests).
  bool flag_unknown = true;
};

std::vector<EnvProblem> check_role_env(CheckRole role, const SourcedEnv& env, const CheckOptions& opts);

// Across the roles of one deploy (`rend env check` with several roles): the shared
// credentials are equal everywhere, and the edge is listed, with its region and base
// URL, in the API's REND_EXPECTED_EDGES (or its registration would be refused); with
// no API checked, in the edge file's own REND_EXPECTED_EDGES when it has one.
std::vector<EnvProblem> check_across_roles(const std::map<CheckRole, SourcedEnv>& envs);

// "SOURCE: VAR: message"
std::string format_problem(const EnvProblem& p);

// Every variable the checker knows (the examples test compares it with the sources).
std::vector<std::string> known_env_names();

// A role's start in production: runs check_role_env on the process environment (no
// files). Returns 0 when the role may start; otherwise prints the whole report to
// stderr and returns 2, the exit code of every configuration error at a role's start
// (`rend env check` itself exits 1). REND_ALLOW_DEV_DEFAULTS=true is the
// --allow-dev-defaults of a role start: production-mode tests on one machine.
int production_start_gate(CheckRole role, const std::string& data_dir, const char* command);

// `rend env check ...`
int run_env(const std::vector<std::string>& args);

}  // namespace rend::roles
