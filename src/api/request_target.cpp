#include "api/request_target.hpp"

namespace hub::api {

namespace {

constexpr bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr int hex_value(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

// RFC 3986 pchar without pct-encoded: unreserved / sub-delims / ":" / "@".
constexpr std::array<bool, 256> make_pchar_table() {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=:@")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto pchar = make_pchar_table();

// True when every byte of `s` is a pchar, an `extra` byte, or starts a valid %-escape.
bool valid(std::string_view s, std::string_view extra) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (pchar[static_cast<unsigned char>(c)] || extra.find(c) != std::string_view::npos) continue;
    if (c != '%' || i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// Decodes %-escapes (validated before) and, with `plus_is_space`, `+`.
void decode(std::string_view s, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(s.size());
  // Runs without an escape are appended whole: a byte at a time cost ~1.4k instructions per
  // invoke (issue 6), most targets having no escape at all.
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t next = i;
    while (next < s.size() && s[next] != '%' && !(plus_is_space && s[next] == '+')) ++next;
    out.append(s.substr(i, next - i));
    if (next == s.size()) break;
    if (s[next] == '%') {
      out.push_back(static_cast<char>(hex_value(s[next + 1]) * 16 + hex_value(s[next + 2])));
      i = next + 3;
    } else {
      out.push_back(' ');
      i = next + 1;
    }
  }
}

}  // namespace

std::optional<request_target> parse_request_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  std::string_view path = target;
  std::string_view query;
  bool has_query = false;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
    has_query = true;
  }
  if (!valid(path, "/") || (has_query && !valid(query, "/?"))) return std::nullopt;

  request_target out;
  // Segments: what follows each `/` of the path; the path "/" alone has none. A leading "/./" is
  // not a segment, as in Boost.URL (which writes a path starting with an empty segment that way),
  // so that routing is unchanged from when Boost.URL split the target.
  const bool dot_prefix = path.starts_with("/./");
  if (dot_prefix) path.remove_prefix(2);
  if (path != "/" || dot_prefix) {
    std::string_view rest = path.substr(1);
    for (;;) {
      const auto slash = rest.find('/');
      if (out.count == out.segments.size()) {
        out.too_many = true;
        break;
      }
      decode(rest.substr(0, slash), false, out.segments[out.count++]);
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }
  // Parameters: `&`-separated `key[=value]`. The first whose key is `api-version` decides, as
  // with Boost.URL's params().find(): without `=` it leaves api_version empty.
  std::string key;
  while (has_query) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    const auto eq = param.find('=');
    decode(param.substr(0, eq), true, key);
    if (key == "api-version") {
      if (eq != std::string_view::npos) decode(param.substr(eq + 1), true, out.api_version);
      break;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace hub::api
