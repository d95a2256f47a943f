#pragma once
// Helpers for the MQTT codec tests: spelling packets as annotated bytes, the packets the Node
// device SDK sends (spec/sdk-wire.md §4), and decoding with every split of the input.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "codec/mqtt/decode.hpp"

namespace hub::codec::mqtt::test {

/// Bytes from a list of octets (ints so that 0x80.. need no casts).
inline std::string bytes(std::initializer_list<int> octets) {
  std::string out;
  for (int b : octets) out.push_back(static_cast<char>(b));
  return out;
}

/// An MQTT string or binary field: two-byte big-endian length, then the bytes.
inline std::string str16(std::string_view s) {
  std::string out = bytes({static_cast<int>(s.size() >> 8), static_cast<int>(s.size() & 0xFF)});
  out.append(s);
  return out;
}

inline constexpr std::string_view node_username =
    "localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%"
    "20v20.20.2%3B%20Debian%2012%3B%20x64)";  // 127 bytes
inline constexpr std::string_view node_password =
    "SharedAccessSignature "
    "sr=localhost%2Fdevices%2Fdev1&sig=3q2%2BF7i0x1mGHJbYvYqk8z9o%2F5aWkC0lT1b"
    "q7T3n1oE%3D&se=1795806423";  // 120 bytes

/// CONNECT as the Node SDK sends it: "MQTT" level 4, clean=0, keep-alive 180, client id dev1,
/// username and SAS password, no will.
inline std::string node_connect() {
  return bytes({
             0x10,                  // CONNECT
             0x8B, 0x02,            // remaining length 267 = 0x0B + 0x02*128
             0x00, 0x04,            // protocol name length
             'M',  'Q',  'T', 'T',  //
             0x04,                  // protocol level 4 (3.1.1)
             0xC0,                  // flags: username, password; will 0; clean session 0
             0x00, 0xB4,            // keep alive 180 s
             0x00, 0x04,            // client id length
             'd',  'e',  'v', '1',  //
         }) +
         str16(node_username) + str16(node_password);
}

/// SUBSCRIBE `$iothub/methods/POST/#` QoS 0, packet id 1.
inline std::string node_subscribe_methods() {
  return bytes({
             0x82,        // SUBSCRIBE, reserved flags 0b0010
             0x1B,        // remaining length 27
             0x00, 0x01,  // packet id 1
         }) +
         str16("$iothub/methods/POST/#") +  // 22-byte filter
         bytes({0x00});                     // requested QoS 0
}

/// PUBLISH QoS 1 method response (as Python/Java send it): `$iothub/methods/res/200/?$rid=42`,
/// packet id 7, payload {"n":1}.
inline std::string method_response_publish() {
  return bytes({
             0x32,  // PUBLISH, dup 0, QoS 1, retain 0
             0x2B,  // remaining length 43
         }) +
         str16("$iothub/methods/res/200/?$rid=42") +  // 32-byte topic
         bytes({0x00, 0x07}) +                        // packet id 7
         std::string(R"({"n":1})");
}

inline std::string pingreq_wire() {
  return bytes({0xC0, 0x00});
}  // PINGREQ
inline std::string disconnect_wire() {
  return bytes({0xE0, 0x00});
}  // DISCONNECT

/// Decodes `wire` as one whole packet, after checking that every strict prefix is need_more
/// (with `needed` equal to the whole size whenever it is reported) and that a trailing byte
/// is left unread.
inline decode_result decode_split(std::string_view wire,
                                  std::size_t max_packet_size = default_max_packet_size) {
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const decode_result r = decode(wire.substr(0, i), max_packet_size);
    EXPECT_EQ(r.status, decode_status::need_more) << "prefix of " << i << " bytes";
    if (r.needed != 0) {
      EXPECT_EQ(r.needed, wire.size()) << "prefix of " << i << " bytes";
    }
    if (i >= 5) {
      EXPECT_NE(r.needed, 0u) << "fixed header complete at " << i << " bytes";
    }
  }
  std::string longer(wire);
  longer.push_back('\xC0');
  const decode_result extra = decode(longer, max_packet_size);
  EXPECT_EQ(extra.status, decode_status::ok);
  EXPECT_EQ(extra.consumed, wire.size());

  decode_result r = decode(wire, max_packet_size);
  EXPECT_EQ(r.status, decode_status::ok) << to_string(r.error);
  EXPECT_EQ(r.consumed, wire.size());
  return r;
}

/// Decodes `wire` and expects it to be refused with `e`.
inline void expect_error(std::string_view wire, decode_error e,
                         std::size_t max_packet_size = default_max_packet_size) {
  const decode_result r = decode(wire, max_packet_size);
  EXPECT_EQ(r.status, decode_status::error);
  EXPECT_EQ(r.error, e) << "got " << to_string(r.error) << ", want " << to_string(e);
}

}  // namespace hub::codec::mqtt::test
