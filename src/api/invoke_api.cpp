// POST /twins/{deviceId}[/modules/{moduleId}]/methods (spec/protocol.md §1): validate the body,
// hand the call to the invoker, and splice the device's answer into {"status","payload"}.

#include <boost/asio/use_awaitable.hpp>

#include "api/error_response.hpp"
#include "api/handlers.hpp"
#include "api/invoke_body.hpp"
#include "api/invoke_result_json.hpp"

namespace hub::api {

namespace asio = boost::asio;

asio::awaitable<http_response> handle_invoke(const http_request& req, const identity_key& target,
                                             services& svc) {
  auto parsed = parse_invoke_body(req.body);
  if (auto* err = std::get_if<invoke_body_error>(&parsed))
    co_return error_response(err->code, err->message);
  auto& body = std::get<invoke_body>(parsed);

  invoke_request call;
  call.target = target;
  call.method_name = std::move(body.method_name);
  call.payload.assign(body.payload);
  call.response_timeout = std::chrono::seconds(body.response_timeout_s);
  call.connect_timeout = std::chrono::seconds(body.connect_timeout_s);
  call.policy = req.policy;

  auto result = co_await svc.invoker.async_invoke(std::move(call), asio::use_awaitable);
  if (result.ec != errc::ok) co_return error_response(result.ec);
  http_response res;
  res.body = invoke_result_json(result.status, result.payload);
  co_return res;
}

}  // namespace hub::api
