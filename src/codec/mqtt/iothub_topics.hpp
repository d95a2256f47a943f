#pragma once
// IoT Hub's MQTT topic names and filters (spec/protocol.md §3.6-3.9): building the method request
// topic, and recognising what devices publish and subscribe to. Ids are compared as they appear
// on the wire (no percent-decoding), matching how the hub learnt them from CONNECT.
//
// Thread safety: pure functions.

#include <optional>
#include <string>
#include <string_view>

namespace hub::codec::mqtt {

/// `$iothub/methods/POST/{method_name}/?$rid={rid}`, with both parts written raw: the caller
/// keeps `/ ? # %` out of method names and makes `rid` URL-safe (§3.7).
std::string method_request_topic(std::string_view method_name, std::string_view rid);

struct method_response {
  int status = 0;
  std::string rid;
};

/// Parses `$iothub/methods/res/{status}/?$rid={rid}[&...]` (§3.8). Status and rid are
/// percent-decoded (Python quotes them); status must then be a decimal int, optionally negative.
/// Other query parameters, before or after `$rid`, are ignored; the '/' before '?' may be missing.
/// nullopt if the prefix differs, status is not an int, `$rid` is absent or empty, or a
/// percent-escape is malformed.
std::optional<method_response> parse_method_response_topic(std::string_view topic);

/// The raw (not decoded) `$rid` of `$iothub/twin/GET/?$rid={rid}[&...]`, to echo exactly (§3.9).
/// nullopt if the topic is something else or has no non-empty `$rid`.
std::optional<std::string> parse_twin_get_topic(std::string_view topic);

/// The raw `$rid` of `$iothub/twin/PATCH/properties/reported/?$rid={rid}[&...]` (§3.9).
std::optional<std::string> parse_twin_patch_reported_topic(std::string_view topic);

/// True for the caller's own telemetry topic: `devices/{d}/messages/events/...` when `module_id`
/// is empty, `devices/{d}/modules/{m}/messages/events/...` otherwise. The trailing part (a
/// property bag, possibly empty) is not inspected; `.../messages/events` without the final '/'
/// is accepted too.
bool is_telemetry_topic(std::string_view topic, std::string_view device_id,
                        std::string_view module_id);

enum class filter_kind {
  methods,        // $iothub/methods/POST/#
  twin_response,  // $iothub/twin/res/#
  twin_desired,   // $iothub/twin/PATCH/properties/desired/#
  c2d,            // devices/{d}/messages/devicebound/#           (devices only)
  module_inputs,  // devices/{d}/modules/{m}/#, .../inputs/#      (modules only)
  unknown,        // anything else, including other identities' filters: IoT Hub closes
};

/// Classifies a SUBSCRIBE filter for the connection of `device_id` (and `module_id`, empty for
/// a device). Matching is exact; only the caller's own ids match.
filter_kind classify_filter(std::string_view filter, std::string_view device_id,
                            std::string_view module_id);

}  // namespace hub::codec::mqtt
