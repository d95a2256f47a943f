#pragma once
// HTTP/1.1 sessions for the REST API, over TLS (the HTTPS port) or plain TCP (the opt-in
// HTTP port). Keep-alive, bounded headers and bodies, read deadlines.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "api/routes.hpp"
#include "transport/connection_gate.hpp"
#include "transport/websocket_heads.hpp"

namespace hub::transport {

struct http_limits {
  std::size_t max_header_bytes = 16 * 1024;  // request line and headers; larger get 400
  std::size_t max_body_bytes = 256 * 1024;   // larger bodies get 413 before they are read
  std::chrono::seconds handshake_timeout{10};
  // A whole request (headers and body) must arrive within read_timeout of its first byte, and
  // the first request within read_timeout of the connection: a client that trickles bytes
  // (slowloris) is closed. Between requests a keep-alive connection may idle for idle_timeout.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{120};
  std::chrono::seconds write_timeout{30};
};

/// Serves HTTP on `socket` until the peer closes, a deadline passes or the hub stops. With a
/// TLS context the session handshakes first. `GET /$iothub/websocket` upgrades to a WebSocket
/// carrying MQTT (subprotocol `mqtt`) or AMQP (`AMQPWSB10`), matched ignoring case, for the heads
/// in `ws`. The socket must be on its own strand. `ticket` is held until the session (and any
/// WebSocket head it became) ends.
void start_http_session(boost::asio::ip::tcp::socket socket,
                        std::shared_ptr<boost::asio::ssl::context> tls, api::services& svc,
                        const http_limits& limits, const websocket_heads& ws,
                        connection_ticket ticket = {});

}  // namespace hub::transport
