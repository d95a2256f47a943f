#include "transport/listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <stdexcept>

namespace hub::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

listener::listener(asio::io_context& ioc, std::string name, const std::string& address,
                   std::uint16_t port, session_starter start, std::shared_ptr<connection_gate> gate)
    : ioc_(ioc),
      name_(std::move(name)),
      acceptor_(ioc),
      start_(std::move(start)),
      gate_(std::move(gate)),
      backoff_(ioc) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) throw std::runtime_error(name_ + ": bad bind address '" + address + "'");
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(name_ + ": cannot listen on " + address + ":" + std::to_string(port) +
                             ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

void listener::run() {
  accept_next();
}

void listener::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void listener::accept_next() {
  auto handler = [this](boost::system::error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  };
  // With a gate, accepts complete on the gate's strand, where its counts live.
  if (gate_)
    acceptor_.async_accept(asio::make_strand(ioc_), asio::bind_executor(gate_->strand(), handler));
  else
    acceptor_.async_accept(asio::make_strand(ioc_), handler);
}

void listener::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    // EMFILE/ENFILE: out of descriptors. Say so (the operator must raise the limit), back off
    // briefly rather than spin on a listen queue we cannot drain, and keep serving.
    if (auto held_back = failure_log_.allow(log_throttle::clock::now())) {
      auto more = *held_back ? fmt::format(" ({} more since the last warning)", *held_back) : "";
      if (ec == asio::error::no_descriptors)
        spdlog::warn(
            "{}: connection refused: out of file descriptors (raise `ulimit -n`, or lower "
            "max_connections){}",
            name_, more);
      else
        spdlog::warn("{}: accept failed: {}{}", name_, ec.message(), more);
    }
    backoff_.expires_after(std::chrono::milliseconds(50));
    backoff_.async_wait([this](boost::system::error_code wec) {
      if (!wec) accept_next();
    });
    return;
  }
  connection_ticket ticket;
  if (gate_) {
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    std::optional<connection_ticket> admitted;
    if (!peer_ec) admitted = gate_->admit(peer.address(), name_);
    if (!admitted) {
      // Refused (or already gone): close at once; this costs the hub one accept and one close.
      socket.close(peer_ec);
      accept_next();
      return;
    }
    ticket = std::move(*admitted);
  }
  boost::system::error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  start_(std::move(socket), std::move(ticket));
  accept_next();
}

}  // namespace hub::transport
