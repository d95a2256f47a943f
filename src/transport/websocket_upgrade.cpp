#include "transport/websocket_upgrade.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace hub::transport {

namespace beast = boost::beast;
namespace http = beast::http;

bool is_websocket_path(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  return path == "/$iothub/websocket" || path == "/%24iothub/websocket";
}

std::pair<ws_head, std::string> pick_subprotocol(std::string_view offered,
                                                 const websocket_heads& heads) {
  while (!offered.empty()) {
    auto comma = offered.find(',');
    auto token = offered.substr(0, comma);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (heads.mqtt && beast::iequals(token, "mqtt")) return {ws_head::mqtt, std::string(token)};
    if (heads.amqp && beast::iequals(token, "AMQPWSB10"))
      return {ws_head::amqp, std::string(token)};
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  return {ws_head::none, {}};
}

upgrade_decision decide_upgrade(const http::request_header<>& req, const websocket_heads& heads) {
  upgrade_decision d;
  if (!beast::websocket::is_upgrade(req)) {
    d.refusal = "/$iothub/websocket accepts only WebSocket upgrades (GET with Upgrade: websocket).";
    return d;
  }
  if (req[http::field::sec_websocket_key].empty() ||
      req[http::field::sec_websocket_version] != "13") {
    d.refusal = "WebSocket upgrade without a valid Sec-WebSocket-Key or version 13.";
    return d;
  }
  std::tie(d.head, d.subprotocol) =
      pick_subprotocol(req[http::field::sec_websocket_protocol], heads);
  if (d.head == ws_head::none)
    d.refusal = "Unsupported or missing WebSocket subprotocol: use mqtt or AMQPWSB10.";
  return d;
}

}  // namespace hub::transport
