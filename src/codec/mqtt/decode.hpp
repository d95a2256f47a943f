#pragma once
// Decoding of one MQTT 3.1.1 control packet from the front of a byte buffer.
//
// decode() is stateless: the caller keeps its receive buffer, calls decode() on the unread
// bytes, and on `ok` drops `consumed` bytes and calls again (several packets may sit in one
// buffer). It does no I/O and never throws on wire input. It allocates only once a whole packet
// whose Remaining Length is within `max_packet_size` is in the buffer, and then in proportion to
// it: the strings it copies, plus for SUBSCRIBE/UNSUBSCRIBE one vector entry per filter (at
// worst about 20 bytes of memory per wire byte, for a packet of one-character filters).
//
// Both directions are decoded (the hub reads client packets; the device simulator and the tests
// read server packets). Policy that belongs to the session is left to it: QoS 2 PUBLISH is
// decoded with qos=2 (IoT Hub closes the connection), an empty client id with clean_session=0 is
// decoded (the session answers CONNACK 0x02), and DUP=1 on a QoS 0 PUBLISH is tolerated.
//
// Thread safety: reentrant; no shared state.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec/mqtt/packets.hpp"

namespace hub::codec::mqtt {

/// The Remaining Length limit the hub uses: IoT Hub's 256 KB maximum MQTT message.
inline constexpr std::size_t default_max_packet_size = 256 * 1024;

/// The largest value the 4-byte Remaining Length can hold (§2.2.3).
inline constexpr std::size_t max_remaining_length = 268'435'455;

enum class decode_status : std::uint8_t {
  ok,         // `packet` and `consumed` are set
  need_more,  // the buffer holds a strict prefix of a packet; `needed` says how much, if known
  error,      // `error` is set; the connection must be closed (§4.8)
};

/// Why a packet was refused. Every value means "close the network connection"; only
/// unsupported_protocol_version first gets an answer (CONNACK 0x01, §3.1.2.2).
enum class decode_error : std::uint8_t {
  none = 0,
  invalid_packet_type,           // type 0 or 15 (reserved)
  malformed_remaining_length,    // continuation bit set on the 4th length byte
  packet_too_large,              // Remaining Length > max_packet_size; known from the header
  invalid_flags,                 // fixed-header flags differ from §2.2.2 Table 2.2
  malformed_packet,              // lengths overrun or leave trailing bytes; QoS 3; reserved bits
  bad_utf8,                      // ill-formed UTF-8, a surrogate, or U+0000 (§1.5.3)
  protocol_violation,            // well-formed bytes that break a rule of the standard (below)
  unsupported_protocol_version,  // CONNECT other than "MQTT" level 4; `protocol_level` is set
};

/// Short stable name of `e`, for logs.
std::string_view to_string(decode_error e) noexcept;

struct decode_result {
  decode_status status = decode_status::need_more;
  decode_error error = decode_error::none;
  mqtt::packet packet;              // valid when status == ok
  std::size_t consumed = 0;         // ok: bytes this packet took from the front of the buffer
  std::size_t needed = 0;           // need_more: total bytes the packet takes; 0 if not yet known
  std::uint8_t protocol_level = 0;  // unsupported_protocol_version: the level the client asked
};

/// Decodes the packet at the front of `buf`.
///
/// Returns need_more for every strict prefix of a valid packet and ok for the whole; bytes after
/// the packet are not read. Errors are reported as early as the bytes allow: invalid type and
/// flags from the first byte, malformed_remaining_length and packet_too_large from the fixed
/// header, before the body is buffered. Body checks (per MQTT 3.1.1):
///  - strings are well-formed UTF-8 without U+0000 (bad_utf8); binary fields are not checked;
///  - CONNECT: protocol name "MQTT" level 4; "MQTT" or "MQIsdp" at another level gives
///    unsupported_protocol_version with the level (the rest of the packet is not parsed), any
///    other name protocol_violation; reserved flag 0 and will QoS <= 2 (malformed_packet); will
///    QoS/retain 0 without the will flag, password without username (protocol_violation);
///  - PUBLISH: QoS 3 is malformed_packet; the topic is non-empty and has no '+' or '#', the packet
///    id is nonzero for QoS > 0 (protocol_violation);
///  - SUBSCRIBE/UNSUBSCRIBE: nonzero packet id, at least one filter, each filter non-empty with
///    '+' and '#' only as whole levels and '#' last (protocol_violation); requested QoS byte is
///    0..2 (malformed_packet);
///  - PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: remaining length 2, nonzero packet id;
///  - CONNACK: reserved bits 0, return code 0..5; SUBACK: codes 0, 1, 2 or 0x80.
decode_result decode(std::string_view buf, std::size_t max_packet_size = default_max_packet_size);

}  // namespace hub::codec::mqtt
