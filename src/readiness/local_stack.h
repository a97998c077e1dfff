#pragma once
// The `local` target of `rend readiness`: the local real-services stack with its two
// regional edges (scripts/stack up --two-edge, docs/stack.md), described as the
// settings of a `configured` run.
#include <ostream>
#include <string>

#include "core/env.h"
#include "core/process.h"

namespace rend::readiness {

// Starts the stack (or reuses what runs; `start` false: only reads what runs), then
// returns `base` with REND_API_BASE_URL, REND_READINESS_API_KEY,
// REND_EDGE_INTERNAL_TOKEN and REND_READINESS_EDGES (edge-us-east, edge-london) set
// from the stack's env file and port files. The API key (scopes upload, read, delete,
// analytics) is created once with `rend keys create` and kept in
// {stack dir}/readiness-api-key (0600). Runs from the repository root. Throws
// std::runtime_error saying which step failed (never a secret).
core::Env local_stack_env(core::Env base, core::ProcessRunner& runner, const std::string& rend_bin, bool start,
                          std::ostream& progress);

}  // namespace rend::readiness
