#include "core/errc.hpp"

#include <array>

namespace hub {
namespace {

// Messages follow what the real hub was observed to send where sources show it
// (spec/protocol.md §1.5, §1.7); the rest are ours.
constexpr std::array<errc_info, 22> table{{
    {200, 0, "", ""},
    {400, 400001, "InvalidProtocolVersion",
     "BadRequest: the api-version query parameter is required."},
    {400, 400004, "ArgumentInvalid", "Invalid argument."},
    {400, 400006, "IotHubFormatError", "The request body is not valid JSON."},
    {401, 401002, "IotHubUnauthorizedAccess", "Unauthorized"},
    {403, 403800, "DeviceMaximumInflightMethodExceeded",
     "Too many method calls are in flight to this device."},
    {404, 404001, "DeviceNotFound", "NotFound"},
    {404, 404010, "ModuleNotFound", "NotFound"},
    {404, 404103, "DeviceNotOnline", "Timed out waiting for device to connect."},
    {404, 404103, "DeviceNotOnline", "Device unavailable"},
    {404, 0, "NotFound", "No such resource."},
    {405, 0, "MethodNotAllowed", "Method not allowed on this resource."},
    {409, 409001, "DeviceAlreadyExists", "A device with this id already exists."},
    {409, 409301, "ModuleAlreadyExistsOnDevice",
     "A module with this id already exists on the device."},
    {412, 412001, "PreconditionFailed", "The etag in If-Match does not match the current etag."},
    {413, 413001, "MessageTooLarge", "The request body is too large."},
    {429, 429001, "ThrottlingException", "Too many requests."},
    {500, 500001, "ServerError", "Internal server error."},
    {502, 502001, "BadDeviceResponse", "The device's method response is not valid JSON."},
    {504, 504101, "GatewayTimeout", "Timed out waiting for the response from device."},
    {503, 503001, "ServiceUnavailable", "The service is unavailable."},
    // IoT Hub's code for "the backlog of throttled requests is full" (DOC-ERR): the nearest to a
    // hub-wide cap on calls in flight. A 429 is retried by the service SDKs, which is safe here:
    // the call is refused before it reaches any device.
    {429, 429002, "ThrottleBacklogLimitExceeded",
     "Too many method calls are in flight on this hub; retry later."},
}};

}  // namespace

const errc_info& info(errc e) noexcept {
  auto i = static_cast<std::size_t>(e);
  return i < table.size() ? table[i] : table[static_cast<std::size_t>(errc::server_error)];
}

}  // namespace hub
