#include "codec/mqtt/username.hpp"

#include <array>

namespace hub::codec::mqtt {
namespace {

std::string_view api_version_of(std::string_view query) {
  constexpr std::string_view key = "api-version=";
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with(key)) return pair.substr(key.size());
    if (amp == std::string_view::npos) return {};
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

std::optional<username_info> parse_username(std::string_view username) {
  if (username.empty() || username.size() > max_username_size) return std::nullopt;

  std::string_view path = username;
  std::string_view query;
  bool has_query = false;
  if (const std::size_t q = username.find("/?"); q != std::string_view::npos) {
    path = username.substr(0, q);
    query = username.substr(q + 2);
    has_query = true;
  } else if (path.back() == '/') {
    path.remove_suffix(1);
  }

  // Up to four segments: host, device, module, and edgeHub's legacy property segment. A fifth
  // means the username is something else; stop there rather than collect unbounded pieces.
  std::array<std::string_view, 4> seg{};
  std::size_t count = 0;
  while (true) {
    if (count == seg.size()) return std::nullopt;
    const std::size_t slash = path.find('/');
    seg[count++] = path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (!has_query && count >= 3 && seg[count - 1].find("api-version=") != std::string_view::npos) {
    query = seg[--count];
  }
  if (count < 2 || count > 3) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) {
    if (seg[i].empty()) return std::nullopt;
  }

  username_info info;
  info.host.assign(seg[0]);
  info.device_id.assign(seg[1]);
  if (count == 3) info.module_id.assign(seg[2]);
  info.api_version.assign(api_version_of(query));
  return info;
}

}  // namespace hub::codec::mqtt
