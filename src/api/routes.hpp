#pragma once
// The REST API of the hub: request in, response out. Route table, api-version and SAS checks,
// then the registry and invoke handlers (spec/protocol.md §1, §6).

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>

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

/// Handles one request. Never throws for anything the client sent.
boost::asio::awaitable<http_response> handle_request(http_request req, services& svc);

}  // namespace hub::api
