#include "core/ids.h"

#include "core/crypto.h"

namespace rend::core {

std::string new_id(std::string_view prefix) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  auto bytes = random_bytes(26);
  std::string out(prefix);
  out += '_';
  for (unsigned char b : bytes) out += kAlphabet[b & 31];
  return out;
}

bool is_valid_id(std::string_view id) {
  auto us = id.find('_');
  if (us == std::string_view::npos || us == 0 || us > 16 || id.size() - us - 1 != 26) return false;
  for (size_t i = 0; i < us; ++i)
    if (id[i] < 'a' || id[i] > 'z') return false;
  for (size_t i = us + 1; i < id.size(); ++i) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

}  // namespace rend::core
