#pragma once
// The media job's failure codes and their kind, in one place (the error taxonomy).
// A code is always made through these functions, so its kind cannot drift between
// the place that fails and the worker that decides what to do with the asset.
//
//   retryable (infrastructure; the input is not at fault: the worker keeps the job
//   and tries again later, the asset never fails for it):
//     storage_failed    the object store threw, or a hook threw (the metadata store)
//     worker_failed     the work dir could not be created, ffmpeg could not be started
//   permanent (the input's own fault, or the job was stopped):
//     transcode_failed  ffmpeg failed or timed out on the input; the message is
//                       ffmpeg's last meaningful stderr line without machine paths
//     cancelled         should_cancel said stop (the worker decides what that means)
//     corrupt_input     no usable picture size (and the probe's own verdicts)
//     invalid_asset     the asset id cannot be used as a storage key segment
//     not_a_video       the demuxer is not one of video_demuxers()
//   The probe's verdicts (MediaFailure: not_a_video, corrupt_input, too_long,
//   unsupported_input) are all permanent.
#include <string>

#include "core/status.h"
#include "media/probe.h"

namespace rend::media::errors {

inline core::Status storage_failed() {
  // The detail (which store, which key) goes to the log, never to the asset.
  return core::Status::transient("storage_failed", "Publishing the renditions failed.");
}
inline core::Status worker_failed(std::string message) {
  return core::Status::transient("worker_failed", std::move(message));
}

inline core::Status transcode_failed(std::string message) {
  return core::Status::permanent("transcode_failed", std::move(message));
}
inline core::Status cancelled() { return core::Status::permanent("cancelled", "Processing was cancelled."); }
inline core::Status corrupt_input(std::string message) {
  return core::Status::permanent("corrupt_input", std::move(message));
}
inline core::Status invalid_asset() {
  return core::Status::permanent("invalid_asset", "The asset id cannot be used as a storage key.");
}
inline core::Status not_a_video(std::string message) {
  return core::Status::permanent("not_a_video", std::move(message));
}
inline core::Status from_probe(const MediaFailure& f) { return core::Status::permanent(f.code, f.message); }

}  // namespace rend::media::errors
