#pragma once
// One run of the playback readiness gate (issue 15) against a Rend deployment,
// through its HTTP routes only (never its stores): edges registered and ready, a
// generated clip uploaded until hls_ready, the player bootstrap's URL and cookie
// shape, MISS / HIT / warmed HIT on every edge, telemetry arriving in analytics,
// then the synthetic asset deleted and the edges checked purged. Progress is
// printed step by step; the result carries no URL, host, cookie or token.
#include <atomic>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/process.h"
#include "http/client.h"
#include "readiness/artifact.h"
#include "readiness/settings.h"

namespace rend::readiness {

using Transport = std::function<http::ClientResponse(const http::ClientRequest&)>;

class Runner {
 public:
  // `ffmpeg` generates the clip; `work_dir` holds it while the run lasts.
  Runner(const Settings& s, Transport send, core::ProcessRunner& ffmpeg, const core::Clock& clock,
         std::ostream& progress, std::string work_dir);
  Result run(const std::string& target);
  // Asks a running run() to stop waiting (Ctrl-C): the steps left are skipped, the
  // run fails as interrupted, and cleanup still deletes the synthetic asset.
  // Thread-safe; callable from a signal-waiting thread.
  void cancel() { cancelled_ = true; }
  // Every secret and host the run handled: the artifact writer refuses any of them.
  const std::vector<std::string>& known_secrets() const { return secrets_; }

 private:
  struct Impl;
  const Settings& s_;
  Transport send_;
  core::ProcessRunner& ffmpeg_;
  const core::Clock& clock_;
  std::ostream& out_;
  std::string work_dir_;
  std::vector<std::string> secrets_;
  std::atomic<bool> cancelled_{false};
};

// The authority (host[:port]) of an http(s) URL, or "" when it has none.
std::string url_authority(const std::string& url);

}  // namespace rend::readiness
