#include "hls/rewrite.h"

#include <utility>
#include <vector>

#include "core/percent.h"

namespace rend::hls {
namespace {

// True for references that may leave our origin: anything with a scheme (RFC 3986
// section 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any '/', '?' or
// '#'), and network-path references ("//host/...", section 4.2).
bool is_foreign(std::string_view uri) {
  if (uri.substr(0, 2) == "//") return true;
  for (size_t i = 0; i < uri.size(); ++i) {
    char c = uri[i];
    if (c == ':') return i > 0;  // ":x" is not a scheme, but is odd enough to leave alone
    if (c == '/' || c == '?' || c == '#') return false;
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool scheme_char = alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (i == 0 ? !alpha : !scheme_char) return false;
  }
  return false;
}

// `uri` with key=value added to its query (section 3.4), before any fragment (3.5).
std::string with_param(std::string_view uri, std::string_view enc_key, std::string_view enc_param) {
  std::string_view fragment;
  if (auto hash = uri.find('#'); hash != std::string_view::npos) {
    fragment = uri.substr(hash);
    uri = uri.substr(0, hash);
  }
  std::string kept;
  if (auto q = uri.find('?'); q != std::string_view::npos) {
    std::string_view query = uri.substr(q + 1);
    uri = uri.substr(0, q);
    // Drop existing parameters with the same name ("key=..." or a bare "key"), keeping
    // every other parameter exactly as written.
    size_t start = 0;
    bool first = true;
    while (true) {
      size_t amp = query.find('&', start);
      std::string_view p = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      std::string_view name = p.substr(0, p.find('='));
      if (name != enc_key) {
        if (!first) kept += '&';
        kept.append(p);
        first = false;
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
  }
  std::string out(uri);
  out += '?';
  if (!kept.empty()) out.append(kept).append("&");
  out.append(enc_param);
  out.append(fragment);
  return out;
}

bool attr_name_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

// Parses an RFC 8216 section 4.2 attribute list and returns the [begin, end) offsets of
// each quoted URI attribute's contents. Returns false if the list is not well formed, in
// which case the line is left alone (a line we do not understand gets no token; that
// fails closed).
bool find_uri_attributes(std::string_view list, std::vector<std::pair<size_t, size_t>>& out) {
  size_t i = 0;
  while (true) {
    size_t name_start = i;
    while (i < list.size() && attr_name_char(list[i])) ++i;
    if (i == name_start || i >= list.size() || list[i] != '=') return false;
    std::string_view name = list.substr(name_start, i - name_start);
    ++i;  // '='
    if (i < list.size() && list[i] == '"') {
      size_t close = list.find('"', i + 1);
      if (close == std::string_view::npos) return false;
      if (name == "URI") out.emplace_back(i + 1, close);
      i = close + 1;
    } else {
      size_t value_start = i;
      while (i < list.size() && list[i] != ',' && list[i] != '"') ++i;
      if (i == value_start || (i < list.size() && list[i] == '"')) return false;
    }
    if (i == list.size()) return true;
    if (list[i] != ',') return false;
    ++i;
  }
}

// White space as media::parse_media_playlist trims it, so that the parser and the
// rewriter agree on which lines are blank, tags or URIs (a fuzz finding: an indented
// "#EXTINF" or a stray CR was a tag or blank to one and a URI to the other).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

}  // namespace

std::string add_query_to_playlist_uris(std::string_view playlist, std::string_view key, std::string_view value) {
  // "=value" is never a meaningful parameter; with no name there is nothing to add.
  if (key.empty()) return std::string(playlist);
  const std::string enc_key = core::percent_encode(key);
  const std::string enc_param = enc_key + "=" + core::percent_encode(value);
  auto rewrite = [&](std::string_view uri) -> std::string {
    if (uri.empty() || is_foreign(uri)) return std::string(uri);
    return with_param(uri, enc_key, enc_param);
  };

  std::string out;
  out.reserve(playlist.size() + playlist.size() / 8);
  size_t pos = 0;
  while (pos < playlist.size()) {
    size_t nl = playlist.find('\n', pos);
    size_t end = nl == std::string_view::npos ? playlist.size() : nl;
    std::string_view line = playlist.substr(pos, end - pos);
    std::string_view eol = playlist.substr(end, nl == std::string_view::npos ? 0 : 1);
    // "\r\n" endings: the '\r' belongs to the terminator, not to the URI.
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
      eol = playlist.substr(end - 1, eol.size() + 1);
    }

    size_t lead = 0;
    while (lead < line.size() && is_space(line[lead])) ++lead;
    if (lead == line.size()) {
      out.append(line);  // blank
    } else if (line[lead] != '#') {
      // URI line. White space around the URI is kept outside it, not folded into it.
      size_t uri_end = line.size();
      while (uri_end > lead && is_space(line[uri_end - 1])) --uri_end;
      out.append(line.substr(0, lead));
      out.append(rewrite(line.substr(lead, uri_end - lead)));
      out.append(line.substr(uri_end));
    } else if (lead > 0) {
      out.append(line);  // an indented tag: left alone (ffmpeg never writes one)
    } else if (line.substr(0, 7) == "#EXT-X-" && line.find(':') != std::string_view::npos) {
      size_t colon = line.find(':');
      std::string_view list = line.substr(colon + 1);
      std::vector<std::pair<size_t, size_t>> uris;
      if (find_uri_attributes(list, uris) && !uris.empty()) {
        out.append(line.substr(0, colon + 1));
        size_t copied = 0;
        for (auto [b, e] : uris) {
          out.append(list.substr(copied, b - copied));
          out.append(rewrite(list.substr(b, e - b)));
          copied = e;
        }
        out.append(list.substr(copied));
      } else {
        out.append(line);
      }
    } else {
      out.append(line);  // comments, #EXTM3U, #EXTINF and attribute-less tags
    }
    out.append(eol);
    pos = end + (nl == std::string_view::npos ? 0 : 1);
  }
  return out;
}

}  // namespace rend::hls
