#include "api/error_response.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "codec/json/json_scan.hpp"
#include "codec/sas/crypto.hpp"

namespace hub::api {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  auto ticks = duration_cast<nanoseconds>(t - secs).count() / 100;  // .NET ticks: 100 ns
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:07d}Z", fmt::gmtime(system_clock::to_time_t(secs)),
                     ticks);
}

std::string make_tracking_id(std::chrono::system_clock::time_point now) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  id.reserve(64);
  for (unsigned char c : codec::sas::random_bytes(16)) {
    id.push_back(hex[c >> 4]);
    id.push_back(hex[c & 15]);
  }
  auto t = std::chrono::system_clock::to_time_t(now);
  id += fmt::format("-G:0-TimeStamp:{:%m/%d/%Y %H:%M:%S}", fmt::gmtime(t));
  return id;
}

http_response error_response(errc e, std::string_view message,
                             std::chrono::system_clock::time_point now) {
  const auto& row = info(e);
  if (message.empty()) message = row.message;
  std::string inner;
  inner.reserve(256);
  inner += "{\"errorCode\":";
  inner += std::to_string(row.error_code ? row.error_code : row.http_status * 1000);
  inner += ",\"trackingId\":";
  codec::json::append_escaped(inner, make_tracking_id(now));
  inner += ",\"message\":";
  codec::json::append_escaped(inner, message);
  inner += ",\"info\":{},\"timestampUtc\":";
  codec::json::append_escaped(inner, iso8601_utc(now));
  inner += '}';

  http_response res;
  res.status = row.http_status;
  res.body = "{\"Message\":";
  codec::json::append_escaped(res.body, inner);
  res.body += ",\"ExceptionMessage\":\"\"}";
  if (!row.name.empty()) res.headers.emplace_back("iothub-errorcode", std::string(row.name));
  return res;
}

}  // namespace hub::api
