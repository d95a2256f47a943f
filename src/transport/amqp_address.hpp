#pragma once
// Pure helpers of the AMQP device head (spec/protocol.md §4.2–4.4): method-link addresses, CBS
// audiences, and the uuid correlation ids that carry the core's request ids.
//
// No I/O, no Proton, safe from any thread; never throw on wire input (only std::bad_alloc).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/identity.hpp"

namespace hub::transport::amqp {

/// The identity named by a method-link address: `/devices/{id}[/modules/{mid}]/methods/devicebound`
/// in every form SDKs send (spec §4.3): absolute `amqps://host[:port]/…` (or `amqp://`), relative
/// with or without the leading slash, `deviceBound` in any case, percent-encoded ids (decoded
/// once). Nullopt when the address is anything else.
std::optional<identity_key> parse_method_address(std::string_view address);

/// The identity a CBS audience or a token's `sr` names:
/// `[scheme://]{host}/devices/{id}[/modules/{mid}]`, percent-decoded once if it contains `%` (Node
/// and C# send it encoded). An empty device id means the audience names only the hub (`{host}` or
/// `{host}/devices`: a policy token). Nullopt when it is neither.
std::optional<identity_key> parse_audience(std::string_view audience);

using uuid_bytes = std::array<std::uint8_t, 16>;

/// The uuid correlation id carrying request id `rid` (lower-case hex, at most 30 digits):
/// byte 0 holds the digit count, the digits follow as nibbles. Nullopt for any other rid.
std::optional<uuid_bytes> rid_to_uuid(std::string_view rid);

/// The inverse of rid_to_uuid; nullopt for a uuid it did not make (unknown correlation ids are
/// dropped by the caller).
std::optional<std::string> uuid_to_rid(const uuid_bytes& u);

}  // namespace hub::transport::amqp
