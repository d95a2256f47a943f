#include "transport/deadline_wheel.hpp"

#include <algorithm>
#include <limits>

namespace hub::transport {

boost::asio::execution_context::id deadline_wheel::id;

deadline_wheel::deadline_wheel(boost::asio::io_context& ioc, clock::duration tick)
    : boost::asio::execution_context::service(ioc),
      tick_(std::max<clock::duration>(tick, std::chrono::milliseconds(1))),
      timer_(ioc) {}

std::int64_t deadline_wheel::tick_at_or_after(clock::time_point t) const {
  if (t <= epoch_) return 0;
  const auto since = (t - epoch_).count();
  const auto per = tick_.count();
  return since / per + (since % per != 0 ? 1 : 0);
}

std::int64_t deadline_wheel::ticks_passed(clock::time_point now) const {
  return now <= epoch_ ? 0 : (now - epoch_).count() / tick_.count();
}

void deadline_wheel::schedule(entry& e, clock::time_point due) {
  if (due == clock::time_point::max()) return cancel(e);
  std::lock_guard lock(mu_);
  if (e.tick_ >= 0) unlink_locked(e);
  if (!armed_) {
    // Nothing was swept while no wait was pending: start from now.
    next_tick_ = std::max(next_tick_, ticks_passed(clock::now()) + 1);
  }
  link_locked(e, std::max(tick_at_or_after(due), next_tick_));
  if (!armed_ && !stopped_) arm_locked();
}

void deadline_wheel::cancel(entry& e) {
  std::lock_guard lock(mu_);
  if (e.tick_ < 0) return;
  unlink_locked(e);
  // An empty wheel keeps no wait pending, so that an io_context with nothing else to do stops
  // running (tests and fuzz targets run theirs to completion).
  if (count_ == 0 && armed_) timer_.cancel();
}

std::size_t deadline_wheel::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

void deadline_wheel::link_locked(entry& e, std::int64_t tick) {
  entry*& head = heads_[static_cast<std::size_t>(tick) % slots];
  e.tick_ = tick;
  e.prev_ = nullptr;
  e.next_ = head;
  if (head) head->prev_ = &e;
  head = &e;
  ++count_;
}

void deadline_wheel::unlink_locked(entry& e) {
  if (e.prev_)
    e.prev_->next_ = e.next_;
  else
    heads_[static_cast<std::size_t>(e.tick_) % slots] = e.next_;
  if (e.next_) e.next_->prev_ = e.prev_;
  e.prev_ = e.next_ = nullptr;
  e.tick_ = -1;
  --count_;
}

void deadline_wheel::arm_locked() {
  armed_ = true;
  timer_.expires_at(epoch_ + tick_ * next_tick_);
  timer_.async_wait([this](boost::system::error_code ec) { on_timer(ec); });
}

void deadline_wheel::on_timer(boost::system::error_code ec) {
  std::lock_guard lock(mu_);
  armed_ = false;
  if (stopped_) return;
  if (!ec) {
    const std::int64_t last = ticks_passed(clock::now());
    // After a stall longer than a revolution every slot is swept once: the tick test below
    // still finds every entry that is due.
    const std::int64_t end = std::min<std::int64_t>(last, next_tick_ + slots - 1);
    for (std::int64_t t = next_tick_; t <= end; ++t) {
      entry* e = heads_[static_cast<std::size_t>(t) % slots];
      while (e) {
        entry* next = e->next_;
        if (e->tick_ <= last) {
          unlink_locked(*e);
          e->on_due();
        }
        e = next;
      }
    }
    next_tick_ = std::max(next_tick_, last + 1);
  }
  // Cancelled (the wheel emptied) with an entry scheduled since: that entry needs the wait.
  if (count_ > 0) arm_locked();
}

void deadline_wheel::shutdown() {
  std::lock_guard lock(mu_);
  stopped_ = true;  // the pending wait is destroyed with the reactor's queue, not run
}

}  // namespace hub::transport
