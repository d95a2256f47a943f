#pragma once
// Starting a device protocol head (MQTT, AMQP) on an accepted socket, over TLS or plain TCP, or
// on an upgraded WebSocket: the same few steps for every head, written once. Included only by
// the heads' .cpp files (it pulls in Asio's SSL stream).
//
// `Connection<Stream>` is the head's per-connection class: constructible from (Stream, Services&,
// const Limits&), with `awaitable<void> run()`, used through a shared_ptr. A connection whose
// work runs in completion handlers may also have `void start(connection_ticket)`: it then runs
// without a coroutine over an accepted socket (see spawn_connection). `Limits` has a
// `handshake_timeout`.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "transport/connection_gate.hpp"
#include "transport/tls_stream.hpp"
#include "transport/ws_byte_stream.hpp"

namespace hub::transport::detail {

/// Seconds since the epoch, for SAS expiry checks.
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The steady-clock moment at which unix second `unix_until` has passed, for timers that end a
/// token's validity. Clamped to [now, now + 100 years] so that a token naming an absurd `se`
/// cannot overflow the clock's nanosecond count (which would wake the timer at once, forever).
inline std::chrono::steady_clock::time_point steady_deadline(std::int64_t unix_until) {
  constexpr std::int64_t century = std::int64_t{100} * 366 * 24 * 3600;
  const auto now = unix_now();
  const std::int64_t left = unix_until <= now ? 0 : std::min(unix_until - now + 1, century);
  return std::chrono::steady_clock::now() + std::chrono::seconds(left);
}

/// The TCP socket under any of the heads' streams, to shut a connection down hard.
inline boost::asio::ip::tcp::socket& lowest(boost::asio::ip::tcp::socket& s) {
  return s;
}
inline boost::asio::ip::tcp::socket& lowest(tls_stream& s) {
  return s.next_layer();
}
template <class WebSocket>
boost::asio::ip::tcp::socket& lowest(ws_byte_stream<WebSocket>& s) {
  return s.lowest_socket();
}

/// Waiting for input without a read buffer (issue 6: an idle device should hold none), for the
/// streams that can. `has_buffered_input` first: bytes the stream already holds would not wake
/// the wait. TLS only: on a plain socket the wait costs CPU on every call (Asio 1.81's epoll
/// reactor re-arms the descriptor with epoll_ctl for each non-speculative wait, while a read
/// after one that drained the socket goes straight to the reactor; hub C=64: ~110 vs ~99 us per
/// call, docs/performance.md), and plain TCP meets the 4 KB/device target with its 256 bytes.
template <class Stream>
constexpr bool waits_readable = std::is_same_v<Stream, tls_stream>;
inline bool has_buffered_input(const tls_stream& s) {
  return s.has_buffered_input();
}
template <class Handler>
void async_wait_readable(tls_stream& s, Handler&& handler) {
  s.async_wait_readable(std::forward<Handler>(handler));
}

template <template <class> class Connection, class Stream, class Services, class Limits>
boost::asio::awaitable<void> run_head(Stream stream, Services& svc, const Limits& limits) {
  auto conn = std::make_shared<Connection<Stream>>(std::move(stream), svc, limits);
  co_await conn->run();
}

/// Logs the exception (if any) that ended head `name`'s connection.
inline void report_unexpected(std::string_view name, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::warn("{} session ended by an unexpected error: {}", name, x.what());
  }
}

/// A connection that keeps itself alive through its own pending handlers and holds its ticket
/// until it is destroyed: started without a coroutine.
template <class Connection>
concept starts_on_its_own = requires(Connection& c, connection_ticket t) {
  c.start(std::move(t));
};

/// Starts `Connection<Stream>` on the stream and holds `ticket` until the connection has ended.
/// An unexpected exception ends only that connection, logged once with the head's name.
///
/// A head that starts on its own (starts_on_its_own) is started on the stream's strand and owns
/// its ticket: an idle device then holds no coroutine at all. Spawning its run() instead kept
/// ~1 KB per device for a coroutine that only waited for the end (co_spawn's entry frame 512 B,
/// run()'s frame, the awaited timer's operation; heaptrack, issue 6). Other heads' run() is
/// spawned directly, and the completion handler keeps the connection and the ticket until run()
/// has ended.
template <template <class> class Connection, class Stream, class Services, class Limits>
void spawn_connection(std::string_view name, Stream stream, Services& svc, const Limits& limits,
                      connection_ticket ticket) {
  auto ex = stream.get_executor();
  auto conn = std::make_shared<Connection<Stream>>(std::move(stream), svc, limits);
  if constexpr (starts_on_its_own<Connection<Stream>>) {
    boost::asio::dispatch(ex, [name, conn = std::move(conn), t = std::move(ticket)]() mutable {
      try {
        conn->start(std::move(t));
      } catch (...) {
        report_unexpected(name, std::current_exception());
      }
    });
  } else {
    auto run = conn->run();
    // Asio 1.81's co_spawn copies its handler: the ticket rides in a shared_ptr.
    boost::asio::co_spawn(
        ex, std::move(run),
        [name, conn = std::move(conn), t = std::make_shared<connection_ticket>(std::move(ticket))](
            std::exception_ptr e) { report_unexpected(name, e); });
  }
}

// The TLS handshake has its own deadline: a client that opens TCP and says nothing must not hold
// a descriptor. The heads' TLS is tls_stream (see its header for why not asio::ssl::stream).
// This coroutine lives only for the handshake: the connection then runs on its own, so an idle
// TLS device holds neither this frame (with its stream and timer) nor a run_head frame (issue 6,
// docs/performance.md "TLS memory pass").
template <template <class> class Connection, class Services, class Limits>
boost::asio::awaitable<void> handshake_then_spawn(std::string_view name,
                                                  boost::asio::ip::tcp::socket socket,
                                                  std::shared_ptr<boost::asio::ssl::context> tls,
                                                  Services& svc, const Limits& limits,
                                                  connection_ticket ticket) {
  namespace asio = boost::asio;
  tls_stream stream(std::move(socket), *tls);
  asio::steady_timer guard(stream.get_executor());
  guard.expires_after(limits.handshake_timeout);
  // The guard may have fired (its handler queued) when the handshake completes; `done` tells
  // that handler the stream has moved on. Both run on the socket's strand.
  auto done = std::make_shared<bool>(false);
  guard.async_wait([&stream, done](boost::system::error_code ec) {
    if (!ec && !*done) {
      boost::system::error_code ignored;
      stream.next_layer().close(ignored);
    }
  });
  auto [ec] = co_await stream.async_handshake(asio::as_tuple(asio::use_awaitable));
  *done = true;
  guard.cancel();
  if (ec) co_return;
  spawn_connection<Connection>(name, std::move(stream), svc, limits, std::move(ticket));
}

/// Starts the head on the socket's strand; `tls` null means plain TCP. An unexpected exception
/// ends only that connection, logged once with the head's name (a string with static storage).
/// `ticket` is held until the head ends.
template <template <class> class Connection, class Services, class Limits>
void start_head(std::string_view name, boost::asio::ip::tcp::socket socket,
                std::shared_ptr<boost::asio::ssl::context> tls, Services& svc, const Limits& limits,
                connection_ticket ticket) {
  if (!tls) {
    spawn_connection<Connection>(name, std::move(socket), svc, limits, std::move(ticket));
    return;
  }
  auto ex = socket.get_executor();
  boost::asio::co_spawn(ex,
                        handshake_then_spawn<Connection>(name, std::move(socket), std::move(tls),
                                                         svc, limits, std::move(ticket)),
                        [name](std::exception_ptr e) { report_unexpected(name, e); });
}

/// Runs the head over an accepted WebSocket.
template <template <class> class Connection, class WebSocket, class Services, class Limits>
boost::asio::awaitable<void> run_head_websocket(WebSocket ws, Services& svc, const Limits& limits) {
  return run_head<Connection>(ws_byte_stream<WebSocket>(std::move(ws)), svc, limits);
}

}  // namespace hub::transport::detail
