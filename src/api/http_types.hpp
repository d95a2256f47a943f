#pragma once
// The REST layer's view of an HTTP exchange: plain values, no Beast, so handlers are plain
// functions that tests can call without a socket.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hub::api {

struct http_request {
  std::string method;         // "GET", "PUT", ...
  std::string target;         // origin-form, as received: path plus optional query
  std::string authorization;  // Authorization header value, "" when absent
  std::string if_match;       // If-Match header value as received, "" when absent
  std::string request_id;     // Request-Id header value, "" when absent
  std::string body;
  std::string_view policy;  // set once authorized: the caller's policy (a view into the hub's set)
};

struct http_response {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "application/json; charset=utf-8";  // a literal: never owned
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace hub::api
