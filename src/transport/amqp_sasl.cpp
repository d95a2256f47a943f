#include "transport/amqp_sasl.hpp"

namespace hub::transport::amqp {

namespace {

// AMQP 1.0 type codes used by the SASL frames (AMQP 1.0 §1.6).
constexpr std::uint8_t described = 0x00;
constexpr std::uint8_t smallulong = 0x53;
constexpr std::uint8_t ulong = 0x80;
constexpr std::uint8_t null = 0x40;
constexpr std::uint8_t ubyte = 0x50;
constexpr std::uint8_t vbin8 = 0xa0, vbin32 = 0xb0;
constexpr std::uint8_t str8 = 0xa1, str32 = 0xb1;
constexpr std::uint8_t sym8 = 0xa3, sym32 = 0xb3;
constexpr std::uint8_t list0 = 0x45, list8 = 0xc0, list32 = 0xd0;
constexpr std::uint8_t array8 = 0xe0;
constexpr std::uint8_t sasl_frame_type = 0x01;
constexpr std::uint64_t sasl_mechanisms_code = 0x40;
constexpr std::uint64_t sasl_init_code = 0x41;
constexpr std::uint64_t sasl_outcome_code = 0x44;

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::uint32_t get_u32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// Wraps a performative body in a SASL frame header (doff 2, type 1, channel 0).
std::string frame(const std::string& body) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(8 + body.size()));
  out.push_back(2);
  out.push_back(static_cast<char>(sasl_frame_type));
  out.push_back(0);
  out.push_back(0);
  out += body;
  return out;
}

// A cursor over one frame body; every read checks bounds.
struct reader {
  std::string_view s;
  std::size_t pos = 0;
  bool ok = true;

  std::uint8_t byte() {
    if (pos >= s.size()) {
      ok = false;
      return 0;
    }
    return static_cast<std::uint8_t>(s[pos++]);
  }
  std::uint32_t u32() {
    if (s.size() - pos < 4 || pos > s.size()) {
      ok = false;
      return 0;
    }
    auto v = get_u32(s, pos);
    pos += 4;
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (pos > s.size() || s.size() - pos < n) {
      ok = false;
      return {};
    }
    auto v = s.substr(pos, n);
    pos += n;
    return v;
  }
  // A variable-width value of the given 8/32-bit codes; nullopt for null.
  std::optional<std::string_view> variable(std::uint8_t code8, std::uint8_t code32) {
    auto code = byte();
    if (code == null) return std::nullopt;
    if (code == code8) return bytes(byte());
    if (code == code32) return bytes(u32());
    ok = false;
    return std::nullopt;
  }
};

}  // namespace

header_kind classify_header(std::string_view header) noexcept {
  if (header == amqp_header) return header_kind::amqp;
  if (header == sasl_header) return header_kind::sasl;
  return header_kind::other;
}

std::string encode_mechanisms(const std::vector<std::string_view>& mechanisms) {
  std::string elements;
  for (auto m : mechanisms) {
    elements.push_back(static_cast<char>(m.size()));
    elements.append(m);
  }
  std::string array;  // array8: size, count, element constructor, elements
  array.push_back(static_cast<char>(2 + elements.size()));
  array.push_back(static_cast<char>(mechanisms.size()));
  array.push_back(static_cast<char>(sym8));
  array += elements;
  std::string body{static_cast<char>(described), static_cast<char>(smallulong),
                   static_cast<char>(sasl_mechanisms_code), static_cast<char>(list8)};
  body.push_back(static_cast<char>(1 + 1 + array.size()));  // count byte + array code + array
  body.push_back(1);
  body.push_back(static_cast<char>(array8));
  body += array;
  return frame(body);
}

std::string encode_outcome(sasl_code code) {
  std::string body{static_cast<char>(described),
                   static_cast<char>(smallulong),
                   static_cast<char>(sasl_outcome_code),
                   static_cast<char>(list8),
                   3,
                   1,
                   static_cast<char>(ubyte),
                   static_cast<char>(code)};
  return frame(body);
}

init_result decode_init(std::string_view bytes, std::size_t max_frame_size) {
  init_result r;
  if (bytes.size() < 8) return r;
  std::uint32_t size = get_u32(bytes, 0);
  std::uint8_t doff = static_cast<std::uint8_t>(bytes[4]);
  if (size < 8 || size > max_frame_size || doff < 2 || doff * 4u > size ||
      static_cast<std::uint8_t>(bytes[5]) != sasl_frame_type) {
    r.status = decode_status::error;
    return r;
  }
  if (bytes.size() < size) return r;
  reader in{bytes.substr(doff * 4u, size - doff * 4u)};
  r.status = decode_status::error;
  if (in.byte() != described) return r;
  std::uint64_t descriptor = 0;
  auto dcode = in.byte();
  if (dcode == smallulong) {
    descriptor = in.byte();
  } else if (dcode == ulong) {
    for (int i = 0; i < 8; ++i) descriptor = (descriptor << 8) | in.byte();
  } else {
    return r;
  }
  if (!in.ok || descriptor != sasl_init_code) return r;
  std::uint32_t count = 0;
  switch (in.byte()) {
    case list0:
      break;
    case list8:
      in.byte();
      count = in.byte();
      break;
    case list32:
      in.u32();
      count = in.u32();
      break;
    default:
      return r;
  }
  if (!in.ok || count < 1) return r;  // mechanism is mandatory
  auto mech = in.variable(sym8, sym32);
  if (!in.ok || !mech || mech->empty()) return r;
  r.init.mechanism = std::string(*mech);
  if (count >= 2) {
    auto resp = in.variable(vbin8, vbin32);
    if (!in.ok) return r;
    if (resp) r.init.initial_response = std::string(*resp);
  }
  if (count >= 3) {
    (void)in.variable(str8, str32);  // hostname: not needed
    if (!in.ok) return r;
  }
  r.status = decode_status::ok;
  r.consumed = size;
  return r;
}

std::optional<plain_credentials> parse_plain(std::string_view response) {
  auto first = response.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = response.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  plain_credentials c;
  c.authcid = std::string(response.substr(first + 1, second - first - 1));
  c.password = std::string(response.substr(second + 1));
  if (c.authcid.empty()) return std::nullopt;
  return c;
}

}  // namespace hub::transport::amqp
