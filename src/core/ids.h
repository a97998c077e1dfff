#pragma once
#include <string>
#include <string_view>

namespace rend::core {

// "<prefix>_<26 chars of lowercase base32>" (130 random bits). Ids are used as object
// key and URL path components, so they are restricted to [a-z0-9_].
std::string new_id(std::string_view prefix);
// True for ids new_id could have produced with any prefix of [a-z]+.
bool is_valid_id(std::string_view id);

}  // namespace rend::core
