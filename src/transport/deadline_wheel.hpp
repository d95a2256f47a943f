#pragma once
// One timer for the deadlines of every connection on an io_context: a hashed timing wheel.
//
// Why not a timer per connection: an idle MQTT device held an asio::steady_timer (120 B) and its
// pending wait (~250 B: the wait operation with the handler and the strand's executor), ~380 B
// of the ~3 KB the hub keeps per idle TLS device (heaptrack, issue 6). Here a connection holds
// an `entry` (32 B) and the wheel one timer, ticking every `tick` while any entry is in it.
//
// Precision: an entry's on_due() runs at the first tick at or after its due time, so never
// early and at most one tick (plus the loop's latency) late. Deadlines that far exceed a
// revolution (`slots` ticks) stay in their slot and are skipped until their turn.
//
// Thread safety: every member may be called from any thread; a mutex guards the wheel. It is a
// mutex rather than a strand because a connection must be able to leave the wheel synchronously
// from its destructor: after cancel() returns, the wheel never touches that entry again.
//
// Lifetime: an io_context service, so it outlives every connection (connections may be
// destroyed while the io_context destroys its pending handlers, after every service's
// shutdown()) and its timer dies before the io_context's reactor.

#include <array>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace hub::transport {

class deadline_wheel final : public boost::asio::execution_context::service {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr clock::duration default_tick = std::chrono::milliseconds(250);
  static constexpr std::size_t slots = 512;  // 128 s per revolution at the default tick

  /// What a connection embeds (as a base) to be in the wheel.
  class entry {
   public:
    entry() = default;
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

    /// Called by the wheel once the entry's due time has passed, with the wheel's lock held and
    /// the entry already out of the wheel. It must only hand the work on (post to the owner's
    /// strand): the owner may be blocked in cancel() on another thread at that moment, in its
    /// destructor, with its members still intact.
    virtual void on_due() noexcept = 0;

   protected:
    ~entry() = default;  // the owner calls cancel() first, in its own destructor's body

   private:
    friend class deadline_wheel;
    entry* prev_ = nullptr;
    entry* next_ = nullptr;
    std::int64_t tick_ = -1;  // the tick it is due at; -1: not in the wheel
  };

  using key_type = deadline_wheel;
  static boost::asio::execution_context::id id;

  /// Used by asio::use_service, with the default tick.
  explicit deadline_wheel(boost::asio::io_context& ioc, clock::duration tick = default_tick);

  /// Installs the wheel of `ioc` with another tick (tests); before anything uses the wheel.
  static deadline_wheel& install(boost::asio::io_context& ioc, clock::duration tick) {
    auto* w = new deadline_wheel(ioc, tick);
    boost::asio::add_service(ioc, w);  // takes ownership (or throws service_already_exists)
    return *w;
  }

  /// The wheel of the io_context that `ex` runs on (every executor in this hub is an io_context's
  /// or a strand over one).
  template <class Executor>
  static deadline_wheel& of(const Executor& ex) {
    auto& ctx = boost::asio::query(ex, boost::asio::execution::context);
    return boost::asio::use_service<deadline_wheel>(static_cast<boost::asio::io_context&>(ctx));
  }

  /// Puts `e` in the wheel due at `due`, replacing its previous due time if it is in the wheel.
  /// `due` in the past: due at the next tick. time_point::max(): cancel().
  void schedule(entry& e, clock::time_point due);
  /// Takes `e` out of the wheel; once this returns, on_due() is not called for it unless it is
  /// scheduled again.
  void cancel(entry& e);

  /// Entries in the wheel (for tests).
  std::size_t size() const;

 private:
  void shutdown() override;
  void arm_locked();
  void on_timer(boost::system::error_code ec);
  void link_locked(entry& e, std::int64_t tick);
  void unlink_locked(entry& e);
  std::int64_t tick_at_or_after(clock::time_point t) const;
  std::int64_t ticks_passed(clock::time_point now) const;  // last tick whose time has come

  const clock::duration tick_;
  const clock::time_point epoch_ = clock::now();
  mutable std::mutex mu_;
  std::array<entry*, slots> heads_{};
  std::size_t count_ = 0;
  std::int64_t next_tick_ = 1;  // the first tick not swept yet
  bool armed_ = false;          // a timer wait is pending
  bool stopped_ = false;        // the io_context is shutting down: never arm again
  boost::asio::steady_timer timer_;
};

}  // namespace hub::transport
