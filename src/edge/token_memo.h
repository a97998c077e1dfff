#pragma once
// The edge's playback credential check without an HMAC per request. A player presents
// the same token (cookie or ?token=) for every playlist and segment of a session, and
// the HMAC-SHA256 that verifies it costs more than serving a playlist from memory. So
// each thread remembers the claims (expiry, asset) of tokens whose signature it has
// verified, keyed by the token's exact bytes and by the key set that verified it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/playback_token.h"
#include "auth/settings.h"

namespace rend::edge {

// The signing keys an edge accepts (the current one, then the previous ones of a
// rotation), with an id that no other AcceptedKeys of this process ever gets. The memo
// is keyed by that id, not by an address: a key set that replaces another (a rotation
// in an embedding process or a test, even one built at the same address) never
// inherits the other's verdicts.
class AcceptedKeys {
 public:
  explicit AcceptedKeys(const auth::Settings& s);
  explicit AcceptedKeys(std::vector<auth::SigningKey> keys);
  uint64_t id() const { return id_; }
  const std::vector<auth::SigningKey>& keys() const { return keys_; }

 private:
  std::vector<auth::SigningKey> keys_;
  uint64_t id_;
};

// The verdict auth::verify_playback_token(keys.keys(), token, asset_id, now_unix) gives,
// for every input. A token this thread already verified under `keys` costs a hash
// lookup and no HMAC; its expiry and asset are still judged against `now_unix` and
// `asset_id` on every call. Only validly signed tokens are remembered (a forged or
// tampered one is verified in full every time and never fills the memo), at most
// kMaxRemembered per thread. No allocation on a hit.
auth::TokenStatus verify_token_memoized(const AcceptedKeys& keys, std::string_view token, std::string_view asset_id,
                                        int64_t now_unix);

inline constexpr size_t kMaxRemembered = 8192;

}  // namespace rend::edge
