#pragma once
// The in-process router: presence (which link serves which identity) and pending calls, both
// owned by the core strand. Protocol heads report to it through hub::presence; the invoker
// routes through cluster::router.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/router.hpp"
#include "core/presence.hpp"

namespace hub::cluster {

class local_router final : public router, public presence {
 public:
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;

  struct limits {
    unsigned max_inflight_per_device = 100;  // 403800 beyond this
    // Calls delivered or waiting for a device, hub-wide; 429002 beyond this (docs/limits.md).
    unsigned max_inflight_per_hub = 10000;
  };

  local_router(strand_type core, limits lim);
  ~local_router() override;

  // Interface: router (core strand only)
  void route(invoke_request call, invoke_handler handler) override;
  void revoke(const identity_key& who) override;

  // Interface: presence (any thread)
  void link_up(const identity_key& who, link_id id, std::shared_ptr<device_link> link,
               bool methods_subscribed) override;
  void methods_subscribed(const identity_key& who, link_id id, bool subscribed) override;
  void link_down(const identity_key& who, link_id id) override;
  void method_response(link_id id, std::string rid, int status, std::string payload) override;

  /// The hub is stopping (SIGTERM): answers every pending and waiting call with `reason`, kicks
  /// every link with it, and from now on answers new calls with it at once and kicks new links.
  /// Returns how many calls and links it ended. Core strand only.
  std::size_t shut_down(errc reason);

  /// Counters for /metrics and tests. Core strand only.
  std::size_t connected_links() const noexcept { return links_.size(); }
  bool is_connected(const identity_key& who) const { return links_.contains(who); }
  std::size_t pending_calls() const noexcept { return pending_.size(); }
  std::size_t waiting_calls() const noexcept { return waiters_.size(); }
  /// Calls delivered and awaiting an answer, plus calls waiting for their device to listen.
  std::size_t inflight_calls() const noexcept { return pending_.size() + waiters_.size(); }

 private:
  using clock = std::chrono::steady_clock;

  struct link_entry {
    link_id id = 0;
    std::shared_ptr<device_link> link;
    bool subscribed = false;
    // Calls pending on this link: at most max_inflight_per_device, usually one or none.
    std::vector<std::uint64_t> rids;
  };
  // A delivered call waiting for its answer. It sits in pending_ (by request number) and in the
  // deadline queue of its response timeout, which it leaves when answered.
  struct pending_call {
    link_entry* entry = nullptr;  // the link's entry; failed before that entry is erased
    link_id link = 0;
    invoke_handler handler;
    clock::time_point deadline;
    std::chrono::seconds timeout{};
    pending_call* prev = nullptr;  // neighbours in the deadline queue of `timeout`
    pending_call* next = nullptr;
    std::uint64_t number = 0;
  };
  // Pending calls with the same response timeout expire in the order they were delivered, so a
  // FIFO per timeout value is sorted by deadline, and one timer armed for the earliest head
  // serves them all: no timer, timer-queue entry or cancellation per call.
  struct deadline_queue {
    pending_call* head = nullptr;
    pending_call* tail = nullptr;
  };
  struct waiter {
    invoke_request call;
    invoke_handler handler;
    boost::asio::steady_timer deadline;
  };

  void on_link_up(identity_key who, link_id id, std::shared_ptr<device_link> link, bool subscribed);
  void on_subscribed(const identity_key& who, link_id id, bool subscribed);
  void on_link_down(const identity_key& who, link_id id, errc reason);
  void on_response(link_id id, const std::string& rid, int status, std::string payload);
  void deliver(link_entry& entry, invoke_request call, invoke_handler handler);
  void wake_waiters(const identity_key& who);
  void finish(invoke_handler handler, invoke_result result);
  void fail_pending_of(link_entry& entry, errc reason);
  void unlink_deadline(pending_call& p);
  void arm_sweep();
  void sweep();

  strand_type core_;
  limits limits_;
  std::unordered_map<identity_key, link_entry, identity_key_hash> links_;
  std::unordered_map<std::uint64_t, pending_call> pending_;   // nodes: stable addresses
  std::map<std::chrono::seconds, deadline_queue> deadlines_;  // by response timeout
  boost::asio::steady_timer sweep_timer_;
  clock::time_point sweep_at_ = clock::time_point::max();  // when sweep_timer_ fires; max: idle
  // Calls waiting for a listening link, by waiter number. Timers find their waiter by number, never
  // by pointer: a timer that has already fired can still run after the waiter was woken.
  std::unordered_map<std::uint64_t, waiter> waiters_;
  std::unordered_multimap<identity_key, std::uint64_t, identity_key_hash> waiting_by_id_;
  std::uint64_t next_waiter_ = 1;
  std::uint64_t next_rid_ = 1;
  std::optional<errc> stopping_;  // set by shut_down()
};

/// The textual rid for request number `n`: lower-case hex, URL-safe (spec/protocol.md §3.7).
std::string format_rid(std::uint64_t n);
/// Parses a rid made by format_rid; nullopt for anything else.
std::optional<std::uint64_t> parse_rid(std::string_view rid) noexcept;

}  // namespace hub::cluster
