#include "core/device_link.hpp"

#include <atomic>

namespace hub {

link_id next_link_id() noexcept {
  static std::atomic<link_id> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace hub
