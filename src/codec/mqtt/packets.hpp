#pragma once
// MQTT 3.1.1 control packets as plain values, named as in the standard (OASIS mqtt-v3.1.1 §3).
// These are what decode() produces and encode() consumes; they carry no wire details beyond
// what the standard names (the fixed-header flags of PUBLISH are fields, the reserved flags of
// the other packets are implied by the type). Strings own their bytes; `payload` and
// `password` are binary data held in std::string.
//
// Values compare equal field by field (operator==).
//
// Thread safety: plain values; distinct objects may be used from distinct threads.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hub::codec::mqtt {

/// Control packet types, the high nibble of the fixed header's first byte (§2.2.1).
enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

/// CONNACK return codes (§3.2.2.3). Values 6..255 are reserved and never decoded.
enum class connect_return_code : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_username_or_password = 4,
  not_authorized = 5,
};

/// SUBACK return code for a refused filter (§3.9.3); granted codes are the QoS 0, 1, 2.
inline constexpr std::uint8_t suback_failure = 0x80;

/// The Will Message of a CONNECT (§3.1.2.5-7, §3.1.3.2-3). Present iff the Will Flag is 1.
struct will_message {
  std::string topic;
  std::string payload;  // binary
  std::uint8_t qos = 0;
  bool retain = false;
  bool operator==(const will_message&) const = default;
};

struct connect {
  std::string protocol_name = "MQTT";
  std::uint8_t protocol_level = 4;
  bool clean_session = false;
  std::uint16_t keep_alive = 0;  // seconds; 0 disables keep-alive
  std::string client_id;
  std::optional<will_message> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary; the SAS token for IoT Hub clients
  bool operator==(const connect&) const = default;
};

struct connack {
  bool session_present = false;
  connect_return_code return_code = connect_return_code::accepted;
  bool operator==(const connack&) const = default;
};

struct publish {
  std::string topic;
  std::string payload;   // binary
  std::uint8_t qos = 0;  // 0, 1 or 2; decode never yields 3
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // meaningful (and nonzero) only when qos > 0
  bool operator==(const publish&) const = default;
};

struct puback {
  std::uint16_t packet_id = 0;
  bool operator==(const puback&) const = default;
};

struct pubrec {
  std::uint16_t packet_id = 0;
  bool operator==(const pubrec&) const = default;
};

struct pubrel {
  std::uint16_t packet_id = 0;
  bool operator==(const pubrel&) const = default;
};

struct pubcomp {
  std::uint16_t packet_id = 0;
  bool operator==(const pubcomp&) const = default;
};

struct subscription {
  std::string filter;
  std::uint8_t requested_qos = 0;
  bool operator==(const subscription&) const = default;
};

struct subscribe {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions;  // never empty when decoded
  bool operator==(const subscribe&) const = default;
};

struct suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> return_codes;  // one per filter: 0, 1, 2 or suback_failure
  bool operator==(const suback&) const = default;
};

struct unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // never empty when decoded
  bool operator==(const unsubscribe&) const = default;
};

struct unsuback {
  std::uint16_t packet_id = 0;
  bool operator==(const unsuback&) const = default;
};

struct pingreq {
  bool operator==(const pingreq&) const = default;
};
struct pingresp {
  bool operator==(const pingresp&) const = default;
};
struct disconnect {
  bool operator==(const disconnect&) const = default;
};

/// Any control packet. The alternative index is packet_type - 1.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect>;

/// The type of `p`, from its alternative.
inline packet_type type_of(const packet& p) noexcept {
  return static_cast<packet_type>(p.index() + 1);
}

}  // namespace hub::codec::mqtt
