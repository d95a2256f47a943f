#pragma once
// Encoding of MQTT 3.1.1 control packets: each function appends one packet's bytes to `out`.
//
// Every packet type has an encoder, both server->client (CONNACK, PUBLISH, PUBACK, SUBACK,
// UNSUBACK, PINGRESP) and client->server (CONNECT, SUBSCRIBE, ...), for the device simulator
// and the tests. Encoders do not validate UTF-8 or topic syntax (see validate.hpp) and write
// the fields as given: an encoded packet decodes to an equal value if the value obeys the rules
// decode() checks (and, for a QoS 0 PUBLISH, has packet_id 0, which is not written).
//
// Preconditions (asserted in debug builds, unchecked otherwise): every string and binary field
// is at most 65,535 bytes, the Remaining Length is at most max_remaining_length, QoS values are
// 0..2. Callers that take sizes from untrusted input must check them first; the hub's own
// limits (128 KB method payloads, short method names) keep within these.
//
// Thread safety: pure functions; `out` must not be shared.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/mqtt/packets.hpp"

namespace hub::codec::mqtt {

void encode(std::string& out, const connect& p);
void encode(std::string& out, const connack& p);
void encode(std::string& out, const publish& p);
void encode(std::string& out, const puback& p);
void encode(std::string& out, const pubrec& p);
void encode(std::string& out, const pubrel& p);
void encode(std::string& out, const pubcomp& p);
void encode(std::string& out, const subscribe& p);
void encode(std::string& out, const suback& p);
void encode(std::string& out, const unsubscribe& p);
void encode(std::string& out, const unsuback& p);
void encode(std::string& out, const pingreq& p);
void encode(std::string& out, const pingresp& p);
void encode(std::string& out, const disconnect& p);

/// Encodes whichever packet `p` holds.
void encode(std::string& out, const packet& p);

/// PUBLISH without building a `publish`: the hub's hot path (method requests, twin replies).
/// Grows `out` once. `packet_id` is written only when qos > 0 (then it must be nonzero).
void encode_publish(std::string& out, std::string_view topic, std::string_view payload,
                    std::uint8_t qos, std::uint16_t packet_id, bool retain = false,
                    bool dup = false);

/// Size in bytes of the PUBLISH encode_publish() would append, for reserving a batch.
std::size_t encoded_publish_size(std::size_t topic_size, std::size_t payload_size,
                                 std::uint8_t qos) noexcept;

}  // namespace hub::codec::mqtt
