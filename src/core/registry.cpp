#include "core/registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hub {

namespace asio = boost::asio;

registry::registry(strand_type core, std::unique_ptr<store::registry_store> store)
    : core_(std::move(core)), store_(std::move(store)) {
  for (auto& rec : store_->load_all()) {
    auto key = rec.key;
    cache_.emplace(std::move(key), std::move(rec));
  }
}

registry::~registry() {
  store_worker_.join();
}

const registry::record* registry::find(const identity_key& key) const {
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : &it->second;
}

std::vector<registry::record> registry::devices() const {
  std::vector<record> out;
  for (const auto& [key, rec] : cache_)
    if (!key.is_module()) out.push_back(rec);
  std::sort(out.begin(), out.end(), [](const record& a, const record& b) { return a.key < b.key; });
  return out;
}

std::vector<registry::record> registry::modules_of(const std::string& device_id) const {
  std::vector<record> out;
  for (const auto& [key, rec] : cache_)
    if (key.is_module() && key.device_id == device_id) out.push_back(rec);
  std::sort(out.begin(), out.end(), [](const record& a, const record& b) { return a.key < b.key; });
  return out;
}

void registry::start_find(identity_key key,
                          asio::any_completion_handler<void(std::optional<record>)> h) {
  asio::post(core_, [this, key = std::move(key), h = std::move(h)]() mutable {
    std::optional<record> r;
    if (const auto* rec = find(key)) r = *rec;
    complete_on_own_executor(std::move(h), core_, std::move(r));
  });
}

// Store worker only (it reads the store's last error). Disk full, a file-size limit or an I/O
// error: the caller gets 503, the operator gets the reason here.
void registry::log_storage_error(const char* what, const identity_key& key) {
  spdlog::error("registry: {} of {} not written: {}", what, key.str(), store_->last_error());
}

// Writes run on the single store worker, so they commit in submission order; each then posts
// its cache update to the core strand from that same thread, so the cache applies them in
// commit order too, and only then is the caller told.
void registry::start_put(record rec, std::string if_match, write_handler h) {
  asio::post(store_worker_, [this, rec = std::move(rec), if_match = std::move(if_match),
                             h = std::move(h)]() mutable {
    auto result = store_->put(rec, if_match);
    if (result == store::write_result::storage_error) log_storage_error("put", rec.key);
    asio::post(core_, [this, result, rec = std::move(rec), h = std::move(h)]() mutable {
      std::optional<record> out;
      if (result == store::write_result::ok) {
        apply_put(rec);
        out = std::move(rec);
      }
      complete_on_own_executor(std::move(h), core_, result, std::move(out));
    });
  });
}

void registry::start_remove(identity_key key, std::string if_match, write_handler h) {
  asio::post(store_worker_, [this, key = std::move(key), if_match = std::move(if_match),
                             h = std::move(h)]() mutable {
    auto result = store_->remove(key, if_match);
    if (result == store::write_result::storage_error) log_storage_error("delete", key);
    asio::post(core_, [this, result, key = std::move(key), h = std::move(h)]() mutable {
      if (result == store::write_result::ok) apply_remove(key);
      complete_on_own_executor(std::move(h), core_, result, std::optional<record>{});
    });
  });
}

void registry::apply_put(const record& rec) {
  auto [it, inserted] = cache_.insert_or_assign(rec.key, rec);
  if (!rec.enabled && on_revoked_) on_revoked_(rec.key);
  (void)it;
  (void)inserted;
}

void registry::apply_remove(const identity_key& key) {
  if (key.is_module()) {
    cache_.erase(key);
  } else {
    std::erase_if(cache_, [&](const auto& kv) { return kv.first.device_id == key.device_id; });
  }
  if (on_revoked_) on_revoked_(key);
}

}  // namespace hub
