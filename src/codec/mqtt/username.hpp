#pragma once
// The CONNECT username IoT Hub clients send (spec/protocol.md §3.2, sdk-wire.md §4):
//   {host}/{device}[/{module}]/?api-version={v}&DeviceClientType={agent}[&model-id=..][&...]
//
// Thread safety: pure function.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hub::codec::mqtt {

/// Usernames longer than this are refused unparsed (an MQTT string cannot be longer anyway).
inline constexpr std::size_t max_username_size = 65'535;

struct username_info {
  std::string host;
  std::string device_id;
  std::string module_id;    // empty for a device
  std::string api_version;  // empty when absent
};

/// Parses leniently, as edgeHub does:
///  - the query starts at "/?" (a '?' inside an id is a valid id character); it may be missing
///    (`{host}/{device}`, `{host}/{device}/`), or be edgeHub's legacy form, a last path segment
///    without '?' that holds `api-version=`;
///  - query parameters come in any order; unknown ones (DeviceClientType, model-id, auth-chain)
///    are ignored; api-version is optional;
///  - ids and api-version are returned exactly as they appear (no percent-decoding), so they
///    compare equal to the client id and the SAS `sr` the same client sent.
/// nullopt if the input is empty or over max_username_size, or the path is not 2 or 3 non-empty
/// segments.
std::optional<username_info> parse_username(std::string_view username);

}  // namespace hub::codec::mqtt
