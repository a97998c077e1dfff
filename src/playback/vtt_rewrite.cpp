#include "playback/vtt_rewrite.h"

#include "core/percent.h"

namespace rend::playback {
namespace {

// A scheme ("https:") before any '/', '?' or '#', or a network-path reference.
bool is_foreign(std::string_view uri) {
  if (uri.substr(0, 2) == "//") return true;
  for (char c : uri) {
    if (c == ':') return true;
    if (c == '/' || c == '?' || c == '#') return false;
  }
  return false;
}

std::string with_param(std::string_view uri, const std::string& enc_key, const std::string& enc_param) {
  std::string_view fragment;
  if (auto hash = uri.find('#'); hash != std::string_view::npos) {
    fragment = uri.substr(hash);
    uri = uri.substr(0, hash);
  }
  std::string out;
  if (auto q = uri.find('?'); q != std::string_view::npos) {
    std::string_view query = uri.substr(q + 1);
    out.assign(uri.substr(0, q));
    std::string kept;
    size_t start = 0;
    while (true) {
      size_t amp = query.find('&', start);
      std::string_view p = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      if (p.substr(0, p.find('=')) != enc_key && !p.empty()) kept.append(kept.empty() ? "" : "&").append(p);
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
    out += '?';
    if (!kept.empty()) out.append(kept).append("&");
  } else {
    out.assign(uri);
    out += '?';
  }
  out.append(enc_param);
  out.append(fragment);
  return out;
}

}  // namespace

std::string add_query_to_vtt_cue_uris(std::string_view vtt, std::string_view key, std::string_view value) {
  const std::string enc_key = core::percent_encode(key);
  const std::string enc_param = enc_key + "=" + core::percent_encode(value);
  std::string out;
  out.reserve(vtt.size() + vtt.size() / 4);
  bool after_timing = false;
  size_t pos = 0;
  while (pos < vtt.size()) {
    size_t nl = vtt.find('\n', pos);
    size_t end = nl == std::string_view::npos ? vtt.size() : nl;
    std::string_view line = vtt.substr(pos, end - pos);
    std::string_view eol = vtt.substr(end, nl == std::string_view::npos ? 0 : 1);
    std::string_view cr;
    if (!line.empty() && line.back() == '\r') {
      cr = line.substr(line.size() - 1);
      line.remove_suffix(1);
    }
    if (after_timing && !line.empty() && !is_foreign(line)) out += with_param(line, enc_key, enc_param);
    else out.append(line);
    out.append(cr).append(eol);
    after_timing = line.find("-->") != std::string_view::npos;
    pos = end + eol.size();
    if (eol.empty()) break;
  }
  return out;
}

}  // namespace rend::playback
