#pragma once
// The invoker: one direct-method call from authorization onwards (design.md "One call"):
// the caller's throttle (429001), identity look-up, then the router (presence, connect timeout,
// delivery, response timeout). Exactly one answer per call, always within connect + response
// timeout.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include "cluster/router.hpp"
#include "core/method_call.hpp"
#include "core/registry.hpp"
#include "core/throttle.hpp"

namespace hub {

class invoker {
 public:
  /// `limit`: the per-policy throttle (off by default); it lives on the registry's strand.
  invoker(registry& reg, cluster::router& router, throttle::config limit = {})
      : registry_(reg), router_(router), throttle_(limit) {}

  /// Invokes `call.method_name` on `call.target`; completes with the invoke_result on the
  /// token's executor. A call whose policy (`call.policy`) has no token left completes with
  /// errc::throttled before anything else is looked at. Any thread.
  template <class Token>
  auto async_invoke(invoke_request call, Token&& token) {
    return boost::asio::async_initiate<Token, void(invoke_result)>(
        [this](auto handler, invoke_request c) {
          start(std::move(c), cluster::router::invoke_handler(std::move(handler)));
        },
        token, std::move(call));
  }

 private:
  void start(invoke_request call, cluster::router::invoke_handler handler);

  registry& registry_;
  cluster::router& router_;
  throttle throttle_;  // registry strand only
};

}  // namespace hub
