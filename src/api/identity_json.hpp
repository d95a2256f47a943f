#pragma once
// The IoT Hub Device and Module JSON of the registry REST API (spec/protocol.md §6): rendering a
// stored identity, and reading the body of `PUT /devices/{id}` and
// `PUT /devices/{id}/modules/{mid}`.
//
// Rendering follows IoT Hub: unset times are "0001-01-01T00:00:00Z", the etag is unquoted,
// empty keys and thumbprints are null. Modules carry moduleId/managedBy and, as in IoT Hub, no
// status, capabilities or deviceScope.
//
// Parsing never throws on untrusted input (only std::bad_alloc can escape) and is bounded:
// bodies over max_identity_body bytes and JSON nested deeper than max_identity_depth are
// refused before or while parsing.
//
// Thread safety: free functions without shared state; safe from any thread if the key
// generator is.

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "core/errc.hpp"
#include "core/identity.hpp"
#include "store/registry_store.hpp"

namespace hub::api {

/// The time IoT Hub reports for "never" (DateTime.MinValue).
inline constexpr std::string_view unset_time = "0001-01-01T00:00:00Z";
/// Largest PUT body accepted; a Device with two 64-byte keys is well under 1 KB.
inline constexpr std::size_t max_identity_body = 64 * 1024;
/// Deepest JSON nesting accepted (objects and arrays).
inline constexpr std::size_t max_identity_depth = 32;

/// Returns a fresh base64 symmetric key. The hub passes hub::codec::sas::random_key_base64.
using key_generator = std::function<std::string()>;

/// The Device JSON of `rec` (a device): deviceId, generationId, etag, connectionState,
/// status, statusReason, connectionStateUpdatedTime, statusUpdatedTime, lastActivityTime,
/// cloudToDeviceMessageCount, authentication, capabilities, deviceScope, parentScopes.
/// An empty `connection_state_updated_time` or rec.status_updated_time renders as unset_time.
std::string device_json(const store::identity_record& rec, bool connected,
                        std::string_view connection_state_updated_time);

/// The Module JSON of `rec` (a module): moduleId, managedBy, deviceId, generationId, etag,
/// connectionState, connectionStateUpdatedTime, lastActivityTime, cloudToDeviceMessageCount,
/// authentication.
std::string module_json(const store::identity_record& rec, bool connected,
                        std::string_view connection_state_updated_time);

/// What the caller knows about an identity's live connection, for list rendering.
struct connection_info {
  bool connected = false;
  std::string connection_state_updated_time;  // "" = never
};

/// A JSON array of identities, each rendered as device_json or module_json according to its
/// key (e.g. `GET /devices/{id}/modules`). `lookup` is called once per record.
std::string identity_list_json(std::span<const store::identity_record> recs,
                               const std::function<connection_info(const identity_key&)>& lookup);

/// Why a PUT body was refused: `code` picks the HTTP answer (errc table), `message` says which
/// field and why, for the error body.
struct identity_parse_error {
  errc code;
  std::string message;
};

/// Reads a Device (path_key.module_id empty) or Module PUT body into a record keyed by
/// `path_key`. generation_id, etag, version and status_updated_time are left empty for the
/// store and the caller to fill.
///
/// Errors: message_too_large if over max_identity_body; iot_hub_format_error if the body is
/// not JSON or nests deeper than max_identity_depth; argument_invalid if it is not an object,
/// if deviceId/moduleId are present and differ from `path_key`, if status is not
/// enabled/disabled (any case), if authentication.type is unknown, if a supplied key is not
/// base64 of 16..64 bytes, or if a field has the wrong JSON type.
///
/// Keys: for type sas, a key that is absent, null or "" is generated with `generate_key`
/// (each one independently, so a lone supplied key keeps its partner generated). For other
/// types the keys are dropped. Read-only fields (etag, generationId, connectionState, times,
/// cloudToDeviceMessageCount, ...) and unknown fields are ignored. Modules ignore status,
/// capabilities and deviceScope; devices ignore managedBy.
std::variant<store::identity_record, identity_parse_error> parse_identity_body(
    std::string_view body, const identity_key& path_key, const key_generator& generate_key);

}  // namespace hub::api
