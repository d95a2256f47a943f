#pragma once
// Rate-limited logging for events a peer can trigger at will (refused connections, accept
// failures): at most one line per interval, and that line says how many were held back.
//
// Thread safety: none; use it from one strand.

#include <chrono>
#include <cstdint>
#include <optional>

namespace hub::transport {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  /// Records one event at `now`. Returns nullopt when it must stay quiet, else the number of
  /// events held back since the last line (the caller logs this event and that count).
  std::optional<std::uint64_t> allow(clock::time_point now) {
    if (logged_once_ && now - last_ < interval_) {
      ++held_back_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_ = now;
    auto n = held_back_;
    held_back_ = 0;
    return n;
  }

 private:
  clock::duration interval_;
  clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t held_back_ = 0;
};

}  // namespace hub::transport
