#pragma once
// Route matching and the handlers behind handle_request (api/routes.hpp). Internal to api/.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "api/http_types.hpp"
#include "api/routes.hpp"
#include "core/identity.hpp"

namespace hub::api {

enum class route_kind {
  health,
  metrics,
  device_list,
  device,
  module_list,
  module,
  invoke_device,
  invoke_module
};

struct route {
  route_kind kind{};
  identity_key key;  // ids percent-decoded once
};

/// Matches `target` (origin-form) to a route; fills `api_version` from the query. nullopt for an
/// unknown path; `bad_target` set when the target is not a valid origin-form URL.
std::optional<route> match_route(std::string_view method, std::string_view target,
                                 std::string& api_version, bool& bad_target);

bool allowed(route_kind kind, std::string_view method) noexcept;
std::string_view allowed_methods(route_kind kind) noexcept;

boost::asio::awaitable<http_response> handle_registry(const http_request& req, const route& r,
                                                      services& svc);
/// The call a direct-method request asks for, or the answer refusing its body
/// (spec/protocol.md §1.3). `req` must be authorized (its policy set).
std::variant<invoke_request, http_response> prepare_invoke(const http_request& req,
                                                           const identity_key& target);

}  // namespace hub::api
