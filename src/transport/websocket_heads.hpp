#pragma once
// The protocol heads reachable through `GET /$iothub/websocket` on the HTTPS (and plain HTTP)
// listener (spec/protocol.md §5). The HTTP session accepts the upgrade and hands the WebSocket to
// the head named by the subprotocol.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace hub::transport {

struct mqtt_services;
struct mqtt_limits;
struct amqp_services;
struct amqp_limits;

using wss_stream =
    boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;
using ws_stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

struct websocket_heads {
  mqtt_services* mqtt = nullptr;  // subprotocol `mqtt`
  const mqtt_limits* mqtt_lim = nullptr;
  amqp_services* amqp = nullptr;  // subprotocol `AMQPWSB10`
  const amqp_limits* amqp_lim = nullptr;
};

/// Runs an MQTT session over an accepted WebSocket until it closes.
boost::asio::awaitable<void> run_mqtt_over_websocket(wss_stream ws, mqtt_services& svc,
                                                     const mqtt_limits& limits);
boost::asio::awaitable<void> run_mqtt_over_websocket(ws_stream ws, mqtt_services& svc,
                                                     const mqtt_limits& limits);

}  // namespace hub::transport
