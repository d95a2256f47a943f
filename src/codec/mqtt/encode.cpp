#include "codec/mqtt/encode.hpp"

#include <cassert>
#include <cstddef>

#include "codec/mqtt/decode.hpp"

namespace hub::codec::mqtt {
namespace {

constexpr std::size_t max_field = 0xFFFF;

std::size_t varint_size(std::size_t remaining) noexcept {
  return remaining < 128 ? 1 : remaining < 16'384 ? 2 : remaining < 2'097'152 ? 3 : 4;
}

void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_prefixed(std::string& out, std::string_view s) {
  assert(s.size() <= max_field);
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// Fixed header: first byte, then the Remaining Length in base 128, low digits first (§2.2.3).
// Reserves room for the whole packet so the appends that follow do not reallocate.
void put_header(std::string& out, std::uint8_t first, std::size_t remaining) {
  assert(remaining <= max_remaining_length);
  out.reserve(out.size() + 1 + varint_size(remaining) + remaining);
  put_u8(out, first);
  do {
    auto digit = static_cast<std::uint8_t>(remaining & 0x7F);
    remaining >>= 7;
    if (remaining > 0) digit |= 0x80;
    put_u8(out, digit);
  } while (remaining > 0);
}

std::uint8_t first_byte(packet_type t, std::uint8_t flags = 0) {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(t) << 4) | flags);
}

void put_id_only(std::string& out, packet_type t, std::uint8_t flags, std::uint16_t id) {
  put_header(out, first_byte(t, flags), 2);
  put_u16(out, id);
}

}  // namespace

void encode(std::string& out, const connect& p) {
  std::size_t remaining = 2 + p.protocol_name.size() + 1 + 1 + 2 + 2 + p.client_id.size();
  std::uint8_t flags = p.clean_session ? 0x02 : 0x00;
  if (p.will) {
    assert(p.will->qos <= 2);
    remaining += 2 + p.will->topic.size() + 2 + p.will->payload.size();
    flags |= static_cast<std::uint8_t>(0x04 | (p.will->qos << 3) | (p.will->retain ? 0x20 : 0));
  }
  if (p.username) {
    remaining += 2 + p.username->size();
    flags |= 0x80;
  }
  if (p.password) {
    remaining += 2 + p.password->size();
    flags |= 0x40;
  }
  put_header(out, first_byte(packet_type::connect), remaining);
  put_prefixed(out, p.protocol_name);
  put_u8(out, p.protocol_level);
  put_u8(out, flags);
  put_u16(out, p.keep_alive);
  put_prefixed(out, p.client_id);
  if (p.will) {
    put_prefixed(out, p.will->topic);
    put_prefixed(out, p.will->payload);
  }
  if (p.username) put_prefixed(out, *p.username);
  if (p.password) put_prefixed(out, *p.password);
}

void encode(std::string& out, const connack& p) {
  put_header(out, first_byte(packet_type::connack), 2);
  put_u8(out, p.session_present ? 0x01 : 0x00);
  put_u8(out, static_cast<std::uint8_t>(p.return_code));
}

void encode(std::string& out, const publish& p) {
  encode_publish(out, p.topic, p.payload, p.qos, p.packet_id, p.retain, p.dup);
}

void encode(std::string& out, const puback& p) {
  put_id_only(out, packet_type::puback, 0, p.packet_id);
}

void encode(std::string& out, const pubrec& p) {
  put_id_only(out, packet_type::pubrec, 0, p.packet_id);
}

void encode(std::string& out, const pubrel& p) {
  put_id_only(out, packet_type::pubrel, 0x02, p.packet_id);
}

void encode(std::string& out, const pubcomp& p) {
  put_id_only(out, packet_type::pubcomp, 0, p.packet_id);
}

void encode(std::string& out, const subscribe& p) {
  std::size_t remaining = 2;
  for (const subscription& s : p.subscriptions) remaining += 2 + s.filter.size() + 1;
  put_header(out, first_byte(packet_type::subscribe, 0x02), remaining);
  put_u16(out, p.packet_id);
  for (const subscription& s : p.subscriptions) {
    assert(s.requested_qos <= 2);
    put_prefixed(out, s.filter);
    put_u8(out, s.requested_qos);
  }
}

void encode(std::string& out, const suback& p) {
  put_header(out, first_byte(packet_type::suback), 2 + p.return_codes.size());
  put_u16(out, p.packet_id);
  for (std::uint8_t code : p.return_codes) put_u8(out, code);
}

void encode(std::string& out, const unsubscribe& p) {
  std::size_t remaining = 2;
  for (const std::string& f : p.filters) remaining += 2 + f.size();
  put_header(out, first_byte(packet_type::unsubscribe, 0x02), remaining);
  put_u16(out, p.packet_id);
  for (const std::string& f : p.filters) put_prefixed(out, f);
}

void encode(std::string& out, const unsuback& p) {
  put_id_only(out, packet_type::unsuback, 0, p.packet_id);
}

void encode(std::string& out, const pingreq&) {
  put_header(out, first_byte(packet_type::pingreq), 0);
}

void encode(std::string& out, const pingresp&) {
  put_header(out, first_byte(packet_type::pingresp), 0);
}

void encode(std::string& out, const disconnect&) {
  put_header(out, first_byte(packet_type::disconnect), 0);
}

void encode(std::string& out, const packet& p) {
  std::visit([&out](const auto& v) { encode(out, v); }, p);
}

std::size_t encoded_publish_size(std::size_t topic_size, std::size_t payload_size,
                                 std::uint8_t qos) noexcept {
  const std::size_t remaining = 2 + topic_size + (qos > 0 ? 2 : 0) + payload_size;
  return 1 + varint_size(remaining) + remaining;
}

void encode_publish(std::string& out, std::string_view topic, std::string_view payload,
                    std::uint8_t qos, std::uint16_t packet_id, bool retain, bool dup) {
  assert(qos <= 2);
  const std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  const auto flags = static_cast<std::uint8_t>((dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
  put_header(out, first_byte(packet_type::publish, flags), remaining);
  put_prefixed(out, topic);
  if (qos > 0) put_u16(out, packet_id);
  out.append(payload);
}

}  // namespace hub::codec::mqtt
