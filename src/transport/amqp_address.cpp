#include "transport/amqp_address.hpp"

#include <algorithm>
#include <vector>

#include "codec/sas/crypto.hpp"

namespace hub::transport::amqp {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string_view strip_scheme(std::string_view s) {
  for (std::string_view scheme : {"amqps://", "amqp://", "wss://", "https://"}) {
    if (s.size() >= scheme.size() && iequals(s.substr(0, scheme.size()), scheme))
      return s.substr(scheme.size());
  }
  return s;
}

std::optional<std::string> decode_id(std::string_view seg) {
  if (seg.empty()) return std::nullopt;
  auto id = codec::sas::url_decode(seg);
  if (!id || id->empty() || id->find('/') != std::string::npos) return std::nullopt;
  return id;
}

}  // namespace

std::optional<identity_key> parse_method_address(std::string_view address) {
  std::string_view rest = address;
  auto unschemed = strip_scheme(rest);
  if (unschemed.size() != rest.size()) {
    // amqps://host[:port]/devices/...: drop the authority.
    auto slash = unschemed.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    rest = unschemed.substr(slash + 1);
  } else if (!rest.empty() && rest.front() == '/') {
    rest.remove_prefix(1);
  }
  auto segs = split(rest);
  identity_key who;
  std::size_t i = 0;
  if (segs.size() < 4 || segs[0] != "devices") return std::nullopt;
  auto dev = decode_id(segs[1]);
  if (!dev) return std::nullopt;
  who.device_id = std::move(*dev);
  i = 2;
  if (segs.size() >= 6 && segs[2] == "modules") {
    auto mod = decode_id(segs[3]);
    if (!mod) return std::nullopt;
    who.module_id = std::move(*mod);
    i = 4;
  }
  if (segs.size() != i + 2 || segs[i] != "methods" || !iequals(segs[i + 1], "devicebound"))
    return std::nullopt;
  return who;
}

std::optional<identity_key> parse_audience(std::string_view audience) {
  std::optional<std::string> decoded;
  if (audience.find('%') != std::string_view::npos) {
    decoded = codec::sas::url_decode(audience);
    if (!decoded) return std::nullopt;
    audience = *decoded;
  }
  audience = strip_scheme(audience);
  while (!audience.empty() && audience.back() == '/') audience.remove_suffix(1);
  auto segs = split(audience);
  if (segs.empty() || segs[0].empty()) return std::nullopt;
  identity_key who;
  if (segs.size() == 1) return who;  // {host}
  if (segs[1] != "devices") return std::nullopt;
  if (segs.size() == 2) return who;  // {host}/devices
  if (segs[2].empty()) return std::nullopt;
  who.device_id = std::string(segs[2]);
  if (segs.size() == 3) return who;
  if (segs.size() != 5 || segs[3] != "modules" || segs[4].empty()) return std::nullopt;
  who.module_id = std::string(segs[4]);
  return who;
}

std::optional<uuid_bytes> rid_to_uuid(std::string_view rid) {
  if (rid.empty() || rid.size() > 30) return std::nullopt;
  uuid_bytes u{};
  u[0] = static_cast<std::uint8_t>(rid.size());
  for (std::size_t i = 0; i < rid.size(); ++i) {
    char c = rid[i];
    std::uint8_t v = 0;
    if (c >= '0' && c <= '9')
      v = static_cast<std::uint8_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<std::uint8_t>(c - 'a' + 10);
    else
      return std::nullopt;
    auto& byte = u[1 + i / 2];
    byte = static_cast<std::uint8_t>(byte | (i % 2 == 0 ? v << 4 : v));
  }
  return u;
}

std::optional<std::string> uuid_to_rid(const uuid_bytes& u) {
  std::size_t n = u[0];
  if (n == 0 || n > 30) return std::nullopt;
  static constexpr char digits[] = "0123456789abcdef";
  std::string rid;
  rid.reserve(n);
  for (std::size_t i = 0; i < 30; ++i) {
    std::uint8_t byte = u[1 + i / 2];
    std::uint8_t v = i % 2 == 0 ? byte >> 4 : byte & 0x0f;
    if (i < n)
      rid.push_back(digits[v]);
    else if (v != 0)
      return std::nullopt;  // padding must be zero: not one of ours
  }
  return rid;
}

}  // namespace hub::transport::amqp
