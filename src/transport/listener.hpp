#pragma once
// A TCP listener that hands each accepted socket to a session starter on its own strand. With a
// connection gate, a socket over the gate's limits is closed right after accept, and an admitted
// one comes with its ticket, which the session holds until it ends.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

#include "transport/connection_gate.hpp"
#include "transport/log_throttle.hpp"

namespace hub::transport {

using session_starter = std::function<void(boost::asio::ip::tcp::socket, connection_ticket)>;

class listener {
 public:
  /// Binds `address:port` (port 0: the OS picks) and listens. Throws std::runtime_error with
  /// the address on failure (port in use, no permission). `gate` may be null (no limits).
  listener(boost::asio::io_context& ioc, std::string name, const std::string& address,
           std::uint16_t port, session_starter start,
           std::shared_ptr<connection_gate> gate = nullptr);

  /// Starts accepting. Each socket is created on a new strand of the io_context.
  void run();
  /// Stops accepting; established sessions are not touched.
  void close();

  std::uint16_t port() const noexcept { return port_; }
  const std::string& name() const noexcept { return name_; }

 private:
  void accept_next();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  std::string name_;
  boost::asio::ip::tcp::acceptor acceptor_;
  session_starter start_;
  std::shared_ptr<connection_gate> gate_;
  boost::asio::steady_timer backoff_;
  log_throttle failure_log_{std::chrono::seconds(10)};
  std::uint16_t port_ = 0;
};

}  // namespace hub::transport
