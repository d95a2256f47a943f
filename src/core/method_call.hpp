#pragma once
// The values a direct-method call carries through the hub: what the caller asked for, what a
// device link delivers, and the one answer the caller gets.

#include <chrono>
#include <cstdint>
#include <string>

#include "core/errc.hpp"
#include "core/identity.hpp"

namespace hub {

/// A validated invoke request (spec/protocol.md §1.4), ready for routing.
struct invoke_request {
  identity_key target;
  std::string method_name;
  std::string payload = "null";  // raw JSON, passed through byte for byte
  std::chrono::seconds response_timeout{30};
  std::chrono::seconds connect_timeout{0};
  std::string policy{};  // the caller's shared access policy (`skn`): the throttle's bucket
};

/// What a device link puts on the wire: the method, the request id the device must echo, and
/// the payload bytes. Shared, immutable: one allocation per call whatever the protocol.
struct method_request {
  std::string method_name;
  std::string rid;      // URL-safe lower-case hex, unique per hub run
  std::string payload;  // raw JSON ("null" for a null or absent payload)
};

/// The single answer to an invoke. `ec == errc::ok` means the device answered: `status` and
/// `payload` (raw JSON, "null" for an empty body) are the device's.
struct invoke_result {
  errc ec = errc::ok;
  int status = 0;
  std::string payload;
};

}  // namespace hub
