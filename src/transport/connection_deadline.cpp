#include "transport/connection_deadline.hpp"

#include <algorithm>

namespace hub::transport {

namespace asio = boost::asio;

// Shared with the pending wait's handler, which may run after the owner is gone.
struct connection_deadline::state {
  state(asio::ip::tcp::socket& s, clock::duration g)
      : timer(s.get_executor()), socket(&s), granularity(g) {}

  asio::steady_timer timer;
  asio::ip::tcp::socket* socket;  // null once stopped or expired
  clock::duration granularity;
  clock::time_point deadline = clock::time_point::max();
  clock::time_point armed_until = clock::time_point::max();  // max: no wait pending
  unsigned generation = 0;  // tells a current wait from one superseded by a re-arm
  bool expired = false;
};

namespace {

void arm(const std::shared_ptr<connection_deadline::state>& s);

void on_timer(const std::shared_ptr<connection_deadline::state>& s, unsigned generation,
              boost::system::error_code ec) {
  if (ec || s->socket == nullptr || generation != s->generation) return;
  s->armed_until = connection_deadline::clock::time_point::max();
  if (connection_deadline::clock::now() < s->deadline) return arm(s);
  boost::system::error_code ignored;
  s->socket->close(ignored);
  s->socket = nullptr;
  s->expired = true;
}

void arm(const std::shared_ptr<connection_deadline::state>& s) {
  const auto now = connection_deadline::clock::now();
  // Never further ahead than the granularity, so that a later expires_after need not re-arm.
  s->armed_until = s->deadline - now > s->granularity ? now + s->granularity : s->deadline;
  s->timer.expires_at(s->armed_until);  // cancels the wait it replaces
  s->timer.async_wait(
      [s, g = ++s->generation](boost::system::error_code ec) { on_timer(s, g, ec); });
}

}  // namespace

connection_deadline::connection_deadline(asio::ip::tcp::socket& socket, clock::duration granularity)
    // At least 1 ms: the timer wakes every `granularity` while a deadline is far or absent.
    : state_(std::make_shared<state>(
          socket, std::max<clock::duration>(granularity, std::chrono::milliseconds(1)))) {}

connection_deadline::~connection_deadline() {
  stop();
}

void connection_deadline::expires_after(clock::duration d) {
  if (state_->socket == nullptr) return;
  state_->deadline = clock::now() + d;
  if (state_->deadline < state_->armed_until) arm(state_);
}

void connection_deadline::expires_never() {
  if (state_->socket == nullptr) return;
  state_->deadline = clock::time_point::max();
  if (state_->armed_until == clock::time_point::max()) arm(state_);
}

void connection_deadline::stop() {
  if (state_->socket == nullptr) return;
  state_->socket = nullptr;
  state_->timer.cancel();
}

bool connection_deadline::expired() const {
  return state_->expired;
}

}  // namespace hub::transport
