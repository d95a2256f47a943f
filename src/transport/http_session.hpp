#pragma once
// HTTP/1.1 sessions for the REST API, over TLS (the HTTPS port) or plain TCP (the opt-in
// HTTP port). Keep-alive, bounded headers and bodies, read deadlines.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "api/routes.hpp"
#include "transport/websocket_heads.hpp"

namespace hub::transport {

struct http_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 256 * 1024;  // larger bodies get 413 before they are read
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds read_timeout{30};   // per request, header and body (slowloris)
  std::chrono::seconds idle_timeout{120};  // keep-alive connection with no request
  std::chrono::seconds write_timeout{30};
};

/// Serves HTTP on `socket` until the peer closes, a deadline passes or the hub stops. With a
/// TLS context the session handshakes first. `GET /$iothub/websocket` upgrades to a WebSocket
/// carrying MQTT (subprotocol `mqtt`) or AMQP (`AMQPWSB10`), matched ignoring case, for the heads
/// in `ws`. The socket must be on its own strand.
void start_http_session(boost::asio::ip::tcp::socket socket,
                        std::shared_ptr<boost::asio::ssl::context> tls, api::services& svc,
                        const http_limits& limits, const websocket_heads& ws);

}  // namespace hub::transport
