#pragma once
// The AMQP device head over an accepted WebSocket (subprotocol AMQPWSB10, spec/protocol.md §5):
// the same connection code as on the AMQP ports, reading and writing binary frames. For the HTTP
// session's upgrade path; kept apart from amqp_session.hpp so that header stays free of Beast.

#include <boost/asio/awaitable.hpp>

#include "transport/amqp_session.hpp"
#include "transport/websocket_heads.hpp"

namespace hub::transport {

/// Runs one AMQP connection over `ws` until it closes. Call on the WebSocket's strand.
boost::asio::awaitable<void> run_amqp_over_websocket(wss_stream ws, amqp_services& svc,
                                                     const amqp_limits& limits);
boost::asio::awaitable<void> run_amqp_over_websocket(ws_stream ws, amqp_services& svc,
                                                     const amqp_limits& limits);

}  // namespace hub::transport
