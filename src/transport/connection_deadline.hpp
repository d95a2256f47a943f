#pragma once
// One deadline per connection, kept by a timer that the hot path never re-arms.
//
// Beast's tcp_stream starts a timer wait before each read or write and cancels it after: two
// timer-queue insertions, two removals and two cancelled handlers run through the strand per
// HTTP exchange (issue 6). Here a session only moves a time point. The timer is armed at most
// `granularity` ahead and, when it fires before the deadline, re-arms for what remains, so a
// deadline set at least `granularity` from now never touches the timer queue; a nearer one
// re-arms at once. When the deadline passes, the socket is closed and its pending operations
// complete with an error, as with Beast's own timeouts.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace hub::transport {

class connection_deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// `socket` must outlive the deadline or be detached with stop() first; both run on the
  /// socket's executor (a strand), as does the timer. The timer wakes every `granularity` (at
  /// least 1 ms) while no nearer deadline is set.
  connection_deadline(boost::asio::ip::tcp::socket& socket, clock::duration granularity);
  ~connection_deadline();
  connection_deadline(const connection_deadline&) = delete;
  connection_deadline& operator=(const connection_deadline&) = delete;

  /// Closes the socket once `d` has passed, unless moved again before.
  void expires_after(clock::duration d);
  /// No deadline until the next expires_after (the timer still wakes every `granularity`).
  void expires_never();
  /// Detaches from the socket for good: the timer stops and will never close it.
  void stop();

  /// True once the deadline has closed the socket.
  bool expired() const;

  struct state;  // opaque; shared with the pending wait, which may outlive this object

 private:
  std::shared_ptr<state> state_;
};

}  // namespace hub::transport
