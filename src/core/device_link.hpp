#pragma once
// A connected identity as the core sees it, whatever the protocol (MQTT, AMQP, over TCP, TLS or
// WebSockets). Each protocol head implements this for every authenticated identity it serves.

#include <cstdint>
#include <memory>

#include "core/errc.hpp"
#include "core/method_call.hpp"

namespace hub {

using link_id = std::uint64_t;

/// Allocates a process-unique link id (never 0). Thread-safe.
link_id next_link_id() noexcept;

class device_link {
 public:
  virtual ~device_link() = default;

  /// Puts a method request on the wire. Called from the core's strand; implementations post
  /// to their own strand and return at once. A link that can no longer deliver drops the
  /// request: the core answers the caller when the link reports itself down (or at the
  /// response deadline).
  virtual void deliver(std::shared_ptr<const method_request> request) = 0;

  /// Closes the link because the core says so: a newer connection for the same identity,
  /// or the identity was disabled or deleted. Called from the core's strand; returns at once.
  virtual void kick(errc reason) = 0;
};

}  // namespace hub
