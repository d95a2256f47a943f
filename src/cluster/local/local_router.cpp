#include "cluster/local/local_router.hpp"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <charconv>

#include "core/completion.hpp"

namespace hub::cluster {

namespace asio = boost::asio;

std::string format_rid(std::uint64_t n) {
  char buf[17];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  return std::string(buf, end);
}

std::optional<std::uint64_t> parse_rid(std::string_view rid) noexcept {
  if (rid.empty() || rid.size() > 16) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(rid.data(), rid.data() + rid.size(), n, 16);
  if (ec != std::errc{} || end != rid.data() + rid.size()) return std::nullopt;
  // Only the canonical form (no upper case, no leading zeros) names a call.
  if (format_rid(n) != rid) return std::nullopt;
  return n;
}

local_router::local_router(strand_type core, limits lim)
    : core_(std::move(core)), limits_(lim), sweep_timer_(core_) {}

local_router::~local_router() = default;

void local_router::finish(invoke_handler handler, invoke_result result) {
  // The handler belongs to the caller (an HTTP session on its own strand): complete it there.
  complete_on_own_executor(std::move(handler), core_, std::move(result));
}

// ---- router -------------------------------------------------------------------------------

void local_router::route(invoke_request call, invoke_handler handler) {
  if (stopping_) {
    finish(std::move(handler), {*stopping_, 0, {}});
    return;
  }
  // Refused here, before delivery, so the service SDKs' retry of a 429 cannot run a method twice.
  if (inflight_calls() >= limits_.max_inflight_per_hub) {
    finish(std::move(handler), {errc::hub_max_inflight, 0, {}});
    return;
  }
  auto it = links_.find(call.target);
  if (it != links_.end() && it->second.subscribed) {
    deliver(it->second, std::move(call), std::move(handler));
    return;
  }
  if (call.connect_timeout.count() <= 0) {
    finish(std::move(handler), {errc::device_not_online, 0, {}});
    return;
  }
  // Wait for a link to listen, at most connectTimeoutInSeconds (spec/protocol.md §1.5 (3)).
  auto timeout = call.connect_timeout;
  std::uint64_t id = next_waiter_++;
  waiting_by_id_.emplace(call.target, id);
  auto& w =
      waiters_
          .try_emplace(id, waiter{std::move(call), std::move(handler), asio::steady_timer(core_)})
          .first->second;
  w.deadline.expires_after(timeout);
  w.deadline.async_wait([this, id](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the waiter was woken
    auto w = waiters_.find(id);
    if (w == waiters_.end()) return;  // woken after the timer had already fired
    auto range = waiting_by_id_.equal_range(w->second.call.target);
    for (auto i = range.first; i != range.second; ++i) {
      if (i->second == id) {
        waiting_by_id_.erase(i);
        break;
      }
    }
    finish(std::move(w->second.handler), {errc::device_not_online, 0, {}});
    waiters_.erase(w);
  });
}

void local_router::deliver(link_entry& entry, invoke_request call, invoke_handler handler) {
  if (entry.rids.size() >= limits_.max_inflight_per_device) {
    finish(std::move(handler), {errc::device_max_inflight, 0, {}});
    return;
  }
  std::uint64_t n = next_rid_++;
  auto request = std::make_shared<method_request>(
      method_request{std::move(call.method_name), format_rid(n), std::move(call.payload)});
  // Built in place: Asio 1.81's any_completion_handler move assignment copies from an lvalue,
  // i.e. wraps the handler in a new one, endlessly. Move construction is fine.
  auto& p = pending_
                .try_emplace(n, pending_call{&entry, entry.id, std::move(handler),
                                             clock::now() + call.response_timeout,
                                             call.response_timeout, nullptr, nullptr, n})
                .first->second;
  auto& q = deadlines_[p.timeout];
  p.prev = q.tail;
  (q.tail ? q.tail->next : q.head) = &p;
  q.tail = &p;
  entry.rids.push_back(n);
  if (p.deadline < sweep_at_) arm_sweep();
  entry.link->deliver(std::move(request));
}

void local_router::unlink_deadline(pending_call& p) {
  auto q = deadlines_.find(p.timeout);
  if (q == deadlines_.end()) return;
  (p.prev ? p.prev->next : q->second.head) = p.next;
  (p.next ? p.next->prev : q->second.tail) = p.prev;
  p.prev = p.next = nullptr;
  // An empty queue stays: timeouts are few distinct values, and the next call reuses it.
}

void local_router::arm_sweep() {
  auto earliest = clock::time_point::max();
  for (auto& [timeout, q] : deadlines_)
    if (q.head) earliest = std::min(earliest, q.head->deadline);
  if (earliest == sweep_at_) return;
  sweep_at_ = earliest;
  if (earliest == clock::time_point::max()) {
    sweep_timer_.cancel();
    return;
  }
  sweep_timer_.expires_at(earliest);  // cancels the wait for the later deadline, if any
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed for an earlier deadline, or the router is going away
    sweep();
  });
}

void local_router::sweep() {
  const auto now = clock::now();
  sweep_at_ = clock::time_point::max();  // the wait that ran this has completed
  for (auto& [timeout, q] : deadlines_) {
    while (q.head && q.head->deadline <= now) {
      auto& p = *q.head;
      unlink_deadline(p);
      auto& rids = p.entry->rids;
      rids.erase(std::find(rids.begin(), rids.end(), p.number));
      auto handler = std::move(p.handler);
      pending_.erase(p.number);
      finish(std::move(handler), {errc::gateway_timeout, 0, {}});
    }
  }
  arm_sweep();
}

void local_router::revoke(const identity_key& who) {
  std::vector<std::pair<identity_key, link_id>> victims;
  for (auto& [key, entry] : links_) {
    if (key.device_id == who.device_id && (who.module_id.empty() || key.module_id == who.module_id))
      victims.emplace_back(key, entry.id);
  }
  for (auto& [key, id] : victims) {
    links_.at(key).link->kick(errc::device_not_found);
    on_link_down(key, id, errc::device_unavailable);
  }
}

// ---- presence -----------------------------------------------------------------------------

void local_router::link_up(const identity_key& who, link_id id, std::shared_ptr<device_link> link,
                           bool subscribed) {
  asio::dispatch(core_, [this, who, id, link = std::move(link), subscribed]() mutable {
    on_link_up(std::move(who), id, std::move(link), subscribed);
  });
}

void local_router::methods_subscribed(const identity_key& who, link_id id, bool subscribed) {
  asio::dispatch(core_, [this, who, id, subscribed] { on_subscribed(who, id, subscribed); });
}

void local_router::link_down(const identity_key& who, link_id id) {
  asio::dispatch(core_, [this, who, id] { on_link_down(who, id, errc::device_unavailable); });
}

void local_router::method_response(link_id id, std::string rid, int status, std::string payload) {
  asio::dispatch(core_,
                 [this, id, rid = std::move(rid), status, payload = std::move(payload)]() mutable {
                   on_response(id, rid, status, std::move(payload));
                 });
}

void local_router::on_link_up(identity_key who, link_id id, std::shared_ptr<device_link> link,
                              bool subscribed) {
  if (stopping_) {
    link->kick(*stopping_);
    return;
  }
  if (auto old = links_.find(who); old != links_.end()) {
    // One active connection per identity: the newer one wins (spec/protocol.md §3.5, §4.6).
    old->second.link->kick(errc::device_unavailable);
    on_link_down(who, old->second.id, errc::device_unavailable);
  }
  auto& entry = links_[who];
  entry.id = id;
  entry.link = std::move(link);
  entry.subscribed = subscribed;
  if (subscribed) wake_waiters(who);
}

std::size_t local_router::shut_down(errc reason) {
  stopping_ = reason;
  std::size_t ended = waiters_.size() + links_.size();
  for (auto& [id, w] : waiters_) finish(std::move(w.handler), {reason, 0, {}});
  waiters_.clear();  // destroys the timers: their waits complete as cancelled
  waiting_by_id_.clear();
  for (auto& [who, entry] : links_) {
    ended += entry.rids.size();
    fail_pending_of(entry, reason);
    entry.link->kick(reason);
  }
  links_.clear();
  for (auto& [n, p] : pending_) {  // none should be left without a link; answer them anyway
    finish(std::move(p.handler), {reason, 0, {}});
    ++ended;
  }
  pending_.clear();
  deadlines_.clear();
  arm_sweep();
  return ended;
}

void local_router::on_subscribed(const identity_key& who, link_id id, bool subscribed) {
  auto it = links_.find(who);
  if (it == links_.end() || it->second.id != id) return;
  it->second.subscribed = subscribed;
  if (subscribed) wake_waiters(who);
}

void local_router::wake_waiters(const identity_key& who) {
  auto range = waiting_by_id_.equal_range(who);
  std::vector<std::uint64_t> woken;
  for (auto i = range.first; i != range.second; ++i) woken.push_back(i->second);
  waiting_by_id_.erase(range.first, range.second);
  for (auto id : woken) {
    auto w = waiters_.find(id);
    if (w == waiters_.end()) continue;
    auto call = std::move(w->second.call);
    auto handler = std::move(w->second.handler);
    waiters_.erase(w);  // destroys the timer: its wait completes as cancelled, or finds nothing
    auto it = links_.find(who);
    if (it == links_.end() || !it->second.subscribed) {
      finish(std::move(handler), {errc::device_not_online, 0, {}});
      continue;
    }
    deliver(it->second, std::move(call), std::move(handler));
  }
}

void local_router::fail_pending_of(link_entry& entry, errc reason) {
  for (auto n : entry.rids) {
    auto p = pending_.find(n);
    if (p == pending_.end()) continue;
    unlink_deadline(p->second);
    finish(std::move(p->second.handler), {reason, 0, {}});
    pending_.erase(p);
  }
  entry.rids.clear();
  // The sweep timer may now be armed for a call that is gone; it finds nothing due and re-arms.
}

void local_router::on_link_down(const identity_key& who, link_id id, errc reason) {
  auto it = links_.find(who);
  if (it == links_.end() || it->second.id != id) return;
  fail_pending_of(it->second, reason);
  links_.erase(it);
}

void local_router::on_response(link_id id, const std::string& rid, int status,
                               std::string payload) {
  auto n = parse_rid(rid);
  if (!n) return;
  auto p = pending_.find(*n);
  if (p == pending_.end() || p->second.link != id) return;  // late, unknown, or not this link's
  unlink_deadline(p->second);
  auto& rids = p->second.entry->rids;
  rids.erase(std::find(rids.begin(), rids.end(), *n));
  finish(std::move(p->second.handler), {errc::ok, status, std::move(payload)});
  pending_.erase(p);
}

}  // namespace hub::cluster
