#pragma once
// The REST API of the hub: request in, response out. Route table, api-version and SAS checks,
// then the registry and invoke handlers (spec/protocol.md §1, §6).

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <variant>

#include "api/http_types.hpp"
#include "core/auth.hpp"
#include "core/invoker.hpp"
#include "core/registry.hpp"
#include "core/service_token_cache.hpp"

namespace hub::api {

/// What the handlers reach. Lives as long as the server.
struct services {
  hub::registry& registry;
  hub::invoker& invoker;
  const hub::policy_set& policies;
  /// Whether an identity has a live link; called on the core strand only.
  std::function<bool(const identity_key&)> is_connected;
  /// Prometheus text for GET /metrics; called on the core strand. Null: /metrics is 404.
  std::function<std::string()> metrics = nullptr;
  /// Seconds since the epoch; injectable for tests.
  std::function<std::int64_t()> now = nullptr;
  /// Service tokens verified before (with `policies`); null: every request is verified afresh.
  hub::service_token_cache* verified_tokens = nullptr;
};

/// What a request needs next, decided without waiting for anything: its answer (errors,
/// health), the direct-method call to hand to the invoker, or the coroutine that answers it
/// (registry, metrics). The session awaits the invoker itself, so a direct-method call
/// allocates no coroutine frame of its own: the handler coroutines' frames were allocated
/// afresh on every call, missing Asio's recycling, and glibc's malloc paid for each (issue 6).
using request_step =
    std::variant<http_response, invoke_request, boost::asio::awaitable<http_response>>;

/// Routes `req`, checks its api-version and SAS token (setting `req.policy`) and, for a call,
/// validates its body. A coroutine step refers to `req` and `svc`: keep both alive until it has
/// completed. Never throws for anything the client sent.
request_step route_request(http_request& req, services& svc);

/// The answer to a call routed to the invoker: the device's {"status","payload"}, or the error's.
http_response invoke_answer(const invoke_result& result);

/// What every answer gets last, whatever step produced it: the caller's Request-Id, echoed.
void finish_response(const http_request& req, http_response& res);

}  // namespace hub::api
