#pragma once
// The hub's expected failures, and the one table that maps each to what IoT Hub answers:
// HTTP status, numeric errorCode, the `iothub-errorcode` enum name, and the default message.
// Source: spec/protocol.md §1.7 (DOC-ERR catalogue).

#include <cstdint>
#include <string_view>

namespace hub {

enum class errc : std::uint8_t {
  ok = 0,
  invalid_protocol_version,  // 400001: api-version missing
  argument_invalid,          // 400004: a field out of range, bad id, bad method name
  iot_hub_format_error,      // 400006: body is not parsable JSON
  unauthorized,              // 401002: missing, bad or expired SAS, or too few rights
  device_max_inflight,       // 403800: too many calls in flight to one device
  device_not_found,          // 404001
  module_not_found,          // 404010
  device_not_online,         // 404103: not connected or not subscribed to methods
  device_unavailable,        // 404103: the device link dropped while the call was pending
  not_found,                 // 404 for an unknown route (no IoT Hub code)
  method_not_allowed,        // 405
  device_already_exists,     // 409001
  module_already_exists,     // 409301
  precondition_failed,       // 412001: If-Match etag mismatch
  message_too_large,         // 413001: body over the limit
  throttled,                 // 429001
  server_error,              // 500001
  bad_device_response,       // 502: the device answered with something that is not JSON
  gateway_timeout,           // 504101: no answer from the device before the response timeout
  service_unavailable,       // 503001: disk full, store failure
  hub_max_inflight,          // 429002: too many calls in flight on the whole hub (docs/limits.md)
};

struct errc_info {
  unsigned http_status;
  std::uint32_t error_code;  // numeric IoT Hub errorCode (0 when IoT Hub has none)
  std::string_view name;     // `iothub-errorcode` header value
  std::string_view message;  // default human-readable message
};

/// The row of the error table for `e`. Total: every enumerator has a row.
const errc_info& info(errc e) noexcept;

}  // namespace hub
