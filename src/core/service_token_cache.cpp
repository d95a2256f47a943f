#include "core/service_token_cache.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

namespace hub {

namespace {

// SHA-256 without OpenSSL 3's per-call algorithm fetch: the one-shot SHA256() looks the
// algorithm up by name on every call (~13 000 instructions a digest, the most expensive step of a
// cached REST call); a context per thread with the digest fetched once costs a fraction of that.
bool sha256(std::string_view data, unsigned char* out) {
  struct md_free {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  struct ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  static const std::unique_ptr<EVP_MD, md_free> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  thread_local const std::unique_ptr<EVP_MD_CTX, ctx_free> ctx(EVP_MD_CTX_new());
  unsigned int n = 0;
  return md && ctx && EVP_DigestInit_ex2(ctx.get(), md.get(), nullptr) == 1 &&
         EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), out, &n) == 1 && n == 32;
}

}  // namespace

std::size_t service_token_cache::digest_hash::operator()(const digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 prefix is already uniformly spread
  return h;
}

errc service_token_cache::authorize(std::string_view header, unsigned required_rights,
                                    const policy_set& policies, std::int64_t now_unix,
                                    std::string_view* policy) {
  auto answer = [&](const service_grant& g) {
    if ((g.rights & required_rights) != required_rights) return errc::unauthorized;
    if (policy) *policy = g.policy;
    return errc::ok;
  };
  digest key;
  if (!sha256(header, key.data())) {  // out of memory in OpenSSL: verify without the cache
    auto grant = verify_service_token(header, policies, now_unix);
    return grant ? answer(*grant) : errc::unauthorized;
  }
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      if (now_unix <= it->second.valid_until) return answer(it->second);
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
  return answer(*grant);
}

}  // namespace hub
