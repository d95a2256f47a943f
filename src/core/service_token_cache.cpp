#include "core/service_token_cache.hpp"

#include <openssl/sha.h>

#include <cstring>

namespace hub {

std::size_t service_token_cache::digest_hash::operator()(const digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 prefix is already uniformly spread
  return h;
}

errc service_token_cache::authorize(std::string_view header, unsigned required_rights,
                                    const policy_set& policies, std::int64_t now_unix) {
  digest key;
  SHA256(reinterpret_cast<const unsigned char*>(header.data()), header.size(), key.data());
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      if (now_unix <= it->second.valid_until)
        return (it->second.rights & required_rights) == required_rights ? errc::ok
                                                                        : errc::unauthorized;
      entries_.erase(it);  // expired: verify afresh (it will fail)
    }
  }
  auto grant = verify_service_token(header, policies, now_unix);  // outside the lock: ~2 us
  if (!grant) return errc::unauthorized;
  {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity_) entries_.clear();
    entries_.emplace(key, *grant);
  }
  return (grant->rights & required_rights) == required_rights ? errc::ok : errc::unauthorized;
}

}  // namespace hub
