#pragma once
// IoT Hub's error answer (spec/protocol.md §1.7): the status from the error table, the
// `iothub-errorcode` header, and envelope A: {"Message":"<JSON text>","ExceptionMessage":""}
// whose inner JSON carries errorCode, trackingId, message, info and timestampUtc.

#include <chrono>
#include <string_view>

#include "api/http_types.hpp"
#include "core/errc.hpp"

namespace hub::api {

/// The error response for `e`; `message` replaces the table's default when not empty.
http_response error_response(
    errc e, std::string_view message = {},
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// `<32 lower-hex>-G:0-TimeStamp:MM/dd/yyyy HH:mm:ss`, the shape IoT Hub's tracking ids have.
std::string make_tracking_id(std::chrono::system_clock::time_point now);

/// ISO-8601 UTC with 7 fractional digits, as IoT Hub writes times ("2026-11-27T19:00:00.0000000Z").
std::string iso8601_utc(std::chrono::system_clock::time_point t);

}  // namespace hub::api
