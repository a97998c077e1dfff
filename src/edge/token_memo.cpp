#include "edge/token_memo.h"

#include <atomic>
#include <charconv>
#include <unordered_map>

namespace rend::edge {
namespace {

std::atomic<uint64_t> next_keys_id{1};

// Heterogeneous lookup: a string_view finds without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
};

struct Claims {
  uint64_t keys_id;
  int64_t exp;
  std::string asset;
};

}  // namespace

AcceptedKeys::AcceptedKeys(const auth::Settings& s) : AcceptedKeys(auth::accepted_signing_keys(s)) {}
AcceptedKeys::AcceptedKeys(std::vector<auth::SigningKey> keys)
    : keys_(std::move(keys)), id_(next_keys_id.fetch_add(1, std::memory_order_relaxed)) {}

auth::TokenStatus verify_token_memoized(const AcceptedKeys& keys, std::string_view token, std::string_view asset_id,
                                        int64_t now_unix) {
  thread_local std::unordered_map<std::string, Claims, StringHash, std::equal_to<>> memo;
  // The same order as verify_playback_token after the signature: expiry, then asset.
  auto decide = [&](const Claims& c) {
    if (now_unix >= c.exp) return auth::TokenStatus::expired;
    if (c.asset != asset_id) return auth::TokenStatus::wrong_asset;
    return auth::TokenStatus::ok;
  };
  if (auto it = memo.find(token); it != memo.end() && it->second.keys_id == keys.id()) return decide(it->second);
  const auto status = auth::verify_playback_token(keys.keys(), token, asset_id, now_unix);
  if (status != auth::TokenStatus::ok && status != auth::TokenStatus::expired &&
      status != auth::TokenStatus::wrong_asset)
    return status;  // not validly signed under these keys: nothing to remember
  // v1.<kid>.<exp>.<asset>.<sig> or v2.<kid>.<exp>.<asset>.<sid>.<sig>: the verifier
  // accepted the syntax, so the third and fourth fields are the expiry and the asset.
  const size_t p1 = token.find('.'), p2 = token.find('.', p1 + 1), p3 = token.find('.', p2 + 1),
               p4 = token.find('.', p3 + 1);
  int64_t exp = 0;
  std::from_chars(token.data() + p2 + 1, token.data() + p3, exp);
  if (memo.size() >= kMaxRemembered) memo.clear();
  memo.insert_or_assign(std::string(token), Claims{keys.id(), exp, std::string(token.substr(p3 + 1, p4 - p3 - 1))});
  return status;
}

}  // namespace rend::edge
