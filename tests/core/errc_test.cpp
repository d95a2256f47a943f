// The one error table: every code maps to the status, errorCode and header IoT Hub uses
// (spec/protocol.md §1.7).

#include "core/errc.hpp"

#include <gtest/gtest.h>

namespace hub {
namespace {

TEST(ErrorTable, MatchesIoTHub) {
  struct row {
    errc e;
    unsigned status;
    std::uint32_t code;
    std::string_view name;
  };
  for (const auto& r : {
           row{errc::invalid_protocol_version, 400, 400001, "InvalidProtocolVersion"},
           row{errc::argument_invalid, 400, 400004, "ArgumentInvalid"},
           row{errc::iot_hub_format_error, 400, 400006, "IotHubFormatError"},
           row{errc::unauthorized, 401, 401002, "IotHubUnauthorizedAccess"},
           row{errc::device_max_inflight, 403, 403800, "DeviceMaximumInflightMethodExceeded"},
           row{errc::device_not_found, 404, 404001, "DeviceNotFound"},
           row{errc::module_not_found, 404, 404010, "ModuleNotFound"},
           row{errc::device_not_online, 404, 404103, "DeviceNotOnline"},
           row{errc::device_unavailable, 404, 404103, "DeviceNotOnline"},
           row{errc::device_already_exists, 409, 409001, "DeviceAlreadyExists"},
           row{errc::module_already_exists, 409, 409301, "ModuleAlreadyExistsOnDevice"},
           row{errc::precondition_failed, 412, 412001, "PreconditionFailed"},
           row{errc::message_too_large, 413, 413001, "MessageTooLarge"},
           row{errc::throttled, 429, 429001, "ThrottlingException"},
           row{errc::hub_max_inflight, 429, 429002, "ThrottleBacklogLimitExceeded"},
           row{errc::server_error, 500, 500001, "ServerError"},
           row{errc::gateway_timeout, 504, 504101, "GatewayTimeout"},
       }) {
    const auto& i = info(r.e);
    EXPECT_EQ(i.http_status, r.status) << r.name;
    EXPECT_EQ(i.error_code, r.code) << r.name;
    EXPECT_EQ(i.name, r.name);
    EXPECT_FALSE(i.message.empty()) << r.name;
  }
  EXPECT_EQ(info(errc::device_not_online).message, "Timed out waiting for device to connect.");
  EXPECT_EQ(info(errc::gateway_timeout).message, "Timed out waiting for the response from device.");
}

TEST(ErrorTable, EveryEnumeratorHasItsOwnRow) {
  // The table is indexed by the enumerator: a missing row would shift every later one.
  EXPECT_EQ(info(errc::ok).http_status, 200u);
  EXPECT_EQ(info(errc::service_unavailable).http_status, 503u);
  EXPECT_EQ(info(errc::service_unavailable).error_code, 503001u);
  EXPECT_EQ(info(static_cast<errc>(200)).http_status, 500u);  // out of range: server error
}

}  // namespace
}  // namespace hub
