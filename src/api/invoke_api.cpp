// POST /twins/{deviceId}[/modules/{moduleId}]/methods (spec/protocol.md §1): validate the body
// into a call for the invoker, and splice the device's answer into {"status","payload"}. The
// HTTP session awaits the invoker in between (routes.hpp, request_step).

#include "api/error_response.hpp"
#include "api/handlers.hpp"
#include "api/invoke_body.hpp"
#include "api/invoke_result_json.hpp"

namespace hub::api {

std::variant<invoke_request, http_response> prepare_invoke(const http_request& req,
                                                           const identity_key& target) {
  auto parsed = parse_invoke_body(req.body);
  if (auto* err = std::get_if<invoke_body_error>(&parsed))
    return error_response(err->code, err->message);
  auto& body = std::get<invoke_body>(parsed);

  invoke_request call;
  call.target = target;
  call.method_name = std::move(body.method_name);
  call.payload.assign(body.payload);
  call.response_timeout = std::chrono::seconds(body.response_timeout_s);
  call.connect_timeout = std::chrono::seconds(body.connect_timeout_s);
  call.policy = req.policy;
  return call;
}

http_response invoke_answer(const invoke_result& result) {
  if (result.ec != errc::ok) return error_response(result.ec);
  http_response res;
  res.body = invoke_result_json(result.status, result.payload);
  return res;
}

}  // namespace hub::api
