#pragma once
// The identity registry as the hub uses it: an in-memory cache of every identity, owned by the
// core strand, in front of the durable store. Reads never touch the disk; writes go to the
// store on its own worker thread, and the cache is updated (in commit order) before the caller
// hears of success, so a client reads its own writes.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "store/registry_store.hpp"

namespace hub {

class registry {
 public:
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;
  using record = store::identity_record;
  using write_handler =
      boost::asio::any_completion_handler<void(store::write_result, std::optional<record>)>;

  /// Loads every identity from `store` (blocking; call at start-up).
  registry(strand_type core, std::unique_ptr<store::registry_store> store);
  ~registry();

  /// Called on the core strand after an identity was disabled or deleted (a device deletion
  /// also reports the device key; its modules go with it).
  void on_revoked(std::function<void(const identity_key&)> fn) { on_revoked_ = std::move(fn); }

  // ---- core strand only -------------------------------------------------------------------
  const record* find(const identity_key& key) const;
  std::vector<record> devices() const;
  std::vector<record> modules_of(const std::string& device_id) const;
  std::size_t size() const noexcept { return cache_.size(); }

  // ---- any thread -------------------------------------------------------------------------
  /// A copy of the identity, or nullopt. Completes on the token's executor.
  template <class Token>
  auto async_find(identity_key key, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::optional<record>)>(
        [this](auto handler, identity_key k) {
          start_find(std::move(k), boost::asio::any_completion_handler<void(std::optional<record>)>(
                                       std::move(handler)));
        },
        token, std::move(key));
  }

  /// Creates or updates per store::registry_store::put; completes with the result and, on
  /// success, the stored record (new etag).
  template <class Token>
  auto async_put(record rec, std::string if_match, Token&& token) {
    return boost::asio::async_initiate<Token, void(store::write_result, std::optional<record>)>(
        [this](auto handler, record r, std::string m) {
          start_put(std::move(r), std::move(m), write_handler(std::move(handler)));
        },
        token, std::move(rec), std::move(if_match));
  }

  template <class Token>
  auto async_remove(identity_key key, std::string if_match, Token&& token) {
    return boost::asio::async_initiate<Token, void(store::write_result, std::optional<record>)>(
        [this](auto handler, identity_key k, std::string m) {
          start_remove(std::move(k), std::move(m), write_handler(std::move(handler)));
        },
        token, std::move(key), std::move(if_match));
  }

  /// Runs `fn()` on the core strand and completes with its result on the token's executor.
  template <class R, class Fn, class Token>
  auto async_read(Fn fn, Token&& token) {
    return boost::asio::async_initiate<Token, void(R)>(
        [this](auto handler, Fn f) {
          start_read(boost::asio::any_completion_handler<void(R)>(std::move(handler)),
                     std::move(f));
        },
        token, std::move(fn));
  }

  strand_type& strand() noexcept { return core_; }

 private:
  void start_find(identity_key key,
                  boost::asio::any_completion_handler<void(std::optional<record>)> h);
  void start_put(record rec, std::string if_match, write_handler h);
  void start_remove(identity_key key, std::string if_match, write_handler h);
  template <class R, class Fn>
  void start_read(boost::asio::any_completion_handler<void(R)> h, Fn f);
  void log_storage_error(const char* what, const identity_key& key);
  void apply_put(const record& rec);
  void apply_remove(const identity_key& key);

  strand_type core_;
  std::unique_ptr<store::registry_store> store_;
  boost::asio::thread_pool store_worker_{1};  // the store is blocking and single-threaded
  std::unordered_map<identity_key, record, identity_key_hash> cache_;
  std::function<void(const identity_key&)> on_revoked_;
};

}  // namespace hub

#include "core/impl/registry.hpp"
