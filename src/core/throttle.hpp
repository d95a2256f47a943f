#pragma once
// The direct-method throttle: one token bucket per shared access policy name (docs/limits.md).
// A bucket holds at most `burst` tokens and refills at `rate` tokens per second; each call takes
// one, and a call that finds its bucket empty is refused with 429 + 429001 before it reaches a
// device (the service SDKs retry a 429, so it must never follow delivery: spec/protocol.md §1.8).
//
// Thread safety: none. The core strand owns it (the invoker checks it there). Buckets are kept
// only for names that passed authorization, so their number is bounded by the policies.

#include <chrono>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hub {

struct throttle_config {
  unsigned rate = 0;   // tokens per second per policy; 0 = no throttle
  unsigned burst = 0;  // bucket size; 0 = `rate`
};

class throttle {
 public:
  using clock = std::chrono::steady_clock;
  using config = throttle_config;

  explicit throttle(config c = {}) : rate_(c.rate), burst_(c.burst ? c.burst : c.rate) {}

  bool enabled() const noexcept { return rate_ != 0; }

  /// Takes one token from the bucket of `name` at time `now` (a new bucket starts full).
  /// Returns false, taking nothing, when the bucket is empty. Always true when disabled.
  bool try_take(std::string_view name, clock::time_point now);

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point last;
  };

  double rate_;
  double burst_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace hub
