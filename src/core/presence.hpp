#pragma once
// What protocol heads tell the core about their device links: which identity is connected,
// whether it listens for methods, and the devices' answers.
//
// Thread safety: every member may be called from any thread; implementations post the work to
// the core's strand and return at once. Calls made from one strand are applied in order.

#include <memory>
#include <string>

#include "core/device_link.hpp"
#include "core/identity.hpp"

namespace hub {

class presence {
 public:
  virtual ~presence() = default;

  /// An authenticated connection now serves `who`. A previous link of the same identity is
  /// kicked (errc::device_unavailable) and its pending calls are answered at once.
  /// `methods_subscribed` is true when a persistent session already holds the method
  /// subscription (MQTT CleanSession=0 resumed).
  virtual void link_up(const identity_key& who, link_id id, std::shared_ptr<device_link> link,
                       bool methods_subscribed) = 0;

  /// Link `id` of `who` now listens (or stopped listening) for method requests. Waiting calls
  /// (connect timeout) are delivered as soon as a link listens. Ignored unless `id` is the
  /// identity's current link.
  virtual void methods_subscribed(const identity_key& who, link_id id, bool subscribed) = 0;

  /// Link `id` of `who` is gone. Its pending calls are answered at once (404103 "Device
  /// unavailable"). Ignored unless `id` is the identity's current link (unknown or already
  /// replaced). The head names the identity so that the core keeps no map from link to identity
  /// (~110 B per connected device, issue 6).
  virtual void link_down(const identity_key& who, link_id id) = 0;

  /// A device's answer to request `rid`. Ignored unless `rid` is pending on this very link
  /// (unknown, late and foreign rids are dropped). `payload` is the device's raw body.
  virtual void method_response(link_id id, std::string rid, int status, std::string payload) = 0;
};

}  // namespace hub
