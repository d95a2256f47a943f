#pragma once
// How the invoker reaches the device link that serves an identity. In-process by default
// (cluster/local); a cluster implementation forwards calls to the node holding the link, so the
// protocol heads and the invoker do not change.

#include <boost/asio/any_completion_handler.hpp>

#include "core/method_call.hpp"

namespace hub::cluster {

class router {
 public:
  using invoke_handler = boost::asio::any_completion_handler<void(invoke_result)>;

  virtual ~router() = default;

  /// Routes `call` (to an identity known to be registered and enabled) and calls `handler`
  /// exactly once, on the handler's associated executor: with the device's answer, or with
  /// device_not_online (no listening link within the connect timeout), device_unavailable (the
  /// link dropped mid-call), device_max_inflight, hub_max_inflight (refused before delivery), or
  /// gateway_timeout (no answer by the response deadline). Must be called on the core strand.
  virtual void route(invoke_request call, invoke_handler handler) = 0;

  /// Closes every link of `who` (and, for a device, of its modules): the identity was disabled
  /// or deleted. Must be called on the core strand.
  virtual void revoke(const identity_key& who) = 0;
};

}  // namespace hub::cluster
