#include "core/throttle.hpp"

#include <algorithm>

namespace hub {

bool throttle::try_take(std::string_view name, clock::time_point now) {
  if (!enabled()) return true;
  auto it = buckets_.find(std::string(name));
  if (it == buckets_.end()) it = buckets_.emplace(std::string(name), bucket{burst_, now}).first;
  auto& b = it->second;
  // A clock that did not advance (or a caller's stale `now`) adds nothing.
  if (now > b.last) {
    std::chrono::duration<double> elapsed = now - b.last;
    b.tokens = std::min(burst_, b.tokens + elapsed.count() * rate_);
    b.last = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace hub
