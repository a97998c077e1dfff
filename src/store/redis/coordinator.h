#pragma once
// Redis Coordinator: job wake-ups and rate limits shared by every API and worker
// process using the same Redis (and key prefix).
#include <memory>
#include <string>

#include "store/coord.h"

namespace rend::store::redis {

// url: redis://[[user]:password@]host[:port][/db] (AUTH and SELECT when given).
// key_prefix namespaces every key and the wake-up channel, so several deployments
// (or test runs) can share one Redis.
//
// Does not connect: Redis being down at startup (or later) is reported by
// healthy(), every call reconnects as needed, so Rend recovers without a restart.
// Throws std::invalid_argument for a malformed URL (the message never contains the
// password).
std::unique_ptr<Coordinator> open_redis_coordinator(const std::string& url, const std::string& key_prefix = "rend:");

// The CLIENT SETNAME of this prefix's connections ("rend" + the prefix, with
// characters Redis does not allow in a name replaced), for CLIENT LIST / KILL.
std::string client_name_for_prefix(const std::string& key_prefix);

}  // namespace rend::store::redis
