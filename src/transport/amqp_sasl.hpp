#pragma once
// The server side of the AMQP 1.0 SASL layer (AMQP 1.0 §5.3), just what IoT Hub devices need
// (spec/protocol.md §4.1): the protocol header check, a `sasl-mechanisms` frame, the client's
// `sasl-init`, and a `sasl-outcome`. Hand-written because Proton's SASL layer cannot offer
// MSSBCBS, a mechanism it does not implement, and the C SDK refuses a server that does not.
//
// Pure codec: bytes in, values out. No I/O, safe from any thread, never throws on wire input
// (only std::bad_alloc).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hub::transport::amqp {

inline constexpr std::size_t protocol_header_size = 8;
inline constexpr std::string_view amqp_header{"AMQP\x00\x01\x00\x00", 8};
inline constexpr std::string_view sasl_header{"AMQP\x03\x01\x00\x00", 8};

enum class header_kind : std::uint8_t {
  amqp,   // AMQP 0 1.0.0: no security layer (Node, C#)
  sasl,   // AMQP 3 1.0.0 (C, Java, PLAIN clients)
  other,  // TLS header (id 2), another version, or not AMQP at all
};

/// Classifies the first 8 bytes a client sent (`header.size()` must be 8).
header_kind classify_header(std::string_view header) noexcept;

/// A `sasl-mechanisms` frame offering `mechanisms` (in that order), as one array of symbols.
std::string encode_mechanisms(const std::vector<std::string_view>& mechanisms);

enum class sasl_code : std::uint8_t { ok = 0, auth = 1, sys = 2, sys_perm = 3, sys_temp = 4 };

/// A `sasl-outcome` frame.
std::string encode_outcome(sasl_code code);

struct sasl_init {
  std::string mechanism;
  std::string initial_response;  // empty when absent
};

enum class decode_status : std::uint8_t { ok, need_more, error };

struct init_result {
  decode_status status = decode_status::need_more;
  std::size_t consumed = 0;  // bytes of the frame (ok only)
  sasl_init init;            // ok only
};

/// Decodes the `sasl-init` frame at the start of `bytes`. Frames larger than `max_frame_size`,
/// frames that are not SASL frames and performatives other than sasl-init are errors.
init_result decode_init(std::string_view bytes, std::size_t max_frame_size = 4096);

struct plain_credentials {
  std::string authcid;   // e.g. `{deviceId}@sas.{hubName}`
  std::string password;  // a SAS token for IoT Hub
};

/// Splits a PLAIN initial response (`[authzid] NUL authcid NUL passwd`, RFC 4616).
std::optional<plain_credentials> parse_plain(std::string_view response);

}  // namespace hub::transport::amqp
