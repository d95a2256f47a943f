#pragma once
// Whether a request to the hub's HTTP ports becomes a device WebSocket, and for which head
// (spec/protocol.md §5): the path, the upgrade headers and the subprotocol. Pure decisions on a
// parsed request head; the HTTP session does the I/O (and the fuzz target checks them alone).
//
// No I/O, no shared state, never throws on request input (only std::bad_alloc).

#include <boost/beast/http/message.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "transport/websocket_heads.hpp"

namespace hub::transport {

/// The WebSocket path every device SDK dials; the query string is ignored (Java appends
/// `?iothub-no-client-cert=true`).
bool is_websocket_path(std::string_view target);

enum class ws_head { none, mqtt, amqp };

/// Picks the subprotocol among those offered (a comma-separated list): the client's own token is
/// echoed exactly (C sends `MQTT`, the others `mqtt`; AMQP is `AMQPWSB10`), matched ignoring
/// case, for the heads that `heads` serves.
std::pair<ws_head, std::string> pick_subprotocol(std::string_view offered,
                                                 const websocket_heads& heads);

struct upgrade_decision {
  ws_head head = ws_head::none;
  std::string subprotocol;   // the client's spelling, echoed in the 101 answer
  std::string_view refusal;  // head == none: why, for the 400 answer (static text)
};

/// For a request to the WebSocket path: a WebSocket upgrade (GET, `Upgrade: websocket`), with a
/// Sec-WebSocket-Key and version 13, offering a subprotocol `heads` serves.
upgrade_decision decide_upgrade(const boost::beast::http::request_header<>& req,
                                const websocket_heads& heads);

}  // namespace hub::transport
