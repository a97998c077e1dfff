#pragma once
// The operator page of the readiness gate (issue 15): the latest artifact rendered
// as HTML (status, failures, per-edge table, timings against thresholds as an inline
// SVG bar chart, checks) and the history of recent runs. Everything taken from the
// artifacts is HTML-escaped: they are files on disk, not trusted markup.
#include <string>
#include <vector>

#include "readiness/settings.h"

namespace rend::readiness {

// `page_template` is web/readiness.html; its {{body}} is replaced. `latest` is the
// latest artifact's text (empty: no run yet); `history` the texts of recent runs,
// newest first.
std::string render_page(const std::string& page_template, const std::string& latest,
                        const std::vector<std::string>& history);

// The newest `limit` run artifacts in `runs_dir` (by file name, which starts with
// the run's UTC time), newest first; missing dir: none.
std::vector<std::string> read_history(const std::string& runs_dir, size_t limit);

}  // namespace rend::readiness
