#pragma once
// The in-process router: presence (which link serves which identity) and pending calls, both
// owned by the core strand. Protocol heads report to it through hub::presence; the invoker
// routes through cluster::router.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

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
  void methods_subscribed(link_id id, bool subscribed) override;
  void link_down(link_id id) override;
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
  struct link_entry {
    link_id id = 0;
    std::shared_ptr<device_link> link;
    bool subscribed = false;
    std::unordered_set<std::uint64_t> rids;  // calls pending on this link
  };
  struct pending_call {
    identity_key who;
    link_id link = 0;
    invoke_handler handler;
    boost::asio::steady_timer deadline;
  };
  struct waiter {
    invoke_request call;
    invoke_handler handler;
    boost::asio::steady_timer deadline;
  };

  void on_link_up(identity_key who, link_id id, std::shared_ptr<device_link> link, bool subscribed);
  void on_subscribed(link_id id, bool subscribed);
  void on_link_down(link_id id, errc reason);
  void on_response(link_id id, const std::string& rid, int status, std::string payload);
  void deliver(link_entry& entry, invoke_request call, invoke_handler handler);
  void wake_waiters(const identity_key& who);
  void finish(invoke_handler handler, invoke_result result);
  void fail_pending_of(link_entry& entry, errc reason);

  strand_type core_;
  limits limits_;
  std::unordered_map<identity_key, link_entry, identity_key_hash> links_;
  std::unordered_map<link_id, identity_key> link_owner_;
  std::unordered_map<std::uint64_t, pending_call> pending_;
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
