// The WebSocket upgrade decision (transport/websocket_upgrade.hpp): an HTTP request head, parsed
// as the HTTP session parses it (http_request_parser, with the session's limits), then, for the
// WebSocket path, decide_upgrade for hubs serving both heads, one of them, or none. (The
// WebSocket framing after the upgrade is Beast's; ws_byte_stream only forwards it.)
// Checks: an accepted upgrade is a GET with a key and version 13, for a head the hub serves,
// whose subprotocol is one of the offered tokens exactly (trimmed of spaces) and names that
// head ignoring case; a refusal always says why.
#include <boost/beast/core/string.hpp>

#include "fuzz_check.hpp"
#include "transport/http_request_parser.hpp"
#include "transport/websocket_upgrade.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace hub::transport;

// Whether `token` is one of the comma-separated items of `list`, spaces around items ignored.
bool offered(std::string_view list, std::string_view token) {
  for (;;) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == token) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

void check(const http::request_header<>& req, const websocket_heads& heads) {
  const auto d = decide_upgrade(req, heads);
  if (d.head == ws_head::none) {
    HUB_FUZZ_CHECK(!d.refusal.empty() && d.subprotocol.empty());
    return;
  }
  HUB_FUZZ_CHECK(d.refusal.empty());
  HUB_FUZZ_CHECK(req.method() == http::verb::get);
  HUB_FUZZ_CHECK(!req[http::field::sec_websocket_key].empty());
  HUB_FUZZ_CHECK(req[http::field::sec_websocket_version] == "13");
  HUB_FUZZ_CHECK(offered(req[http::field::sec_websocket_protocol], d.subprotocol));
  if (d.head == ws_head::mqtt)
    HUB_FUZZ_CHECK(heads.mqtt && beast::iequals(d.subprotocol, "mqtt"));
  else
    HUB_FUZZ_CHECK(heads.amqp && beast::iequals(d.subprotocol, "AMQPWSB10"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http_request_parser parser;
  parser.header_limit(16 * 1024);  // http_limits' defaults
  parser.body_limit(256 * 1024);
  beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  // The session upgrades from the request as parsed for the WebSocket path, every field kept.
  if (!parser.websocket()) return 0;
  const auto& req = parser.websocket_request();
  HUB_FUZZ_CHECK(req.target().starts_with("/$iothub/websocket") ||
                 req.target().starts_with("/%24iothub/websocket"));

  // Only whether a head is served matters to the decision; these are never dereferenced.
  auto* mqtt = reinterpret_cast<mqtt_services*>(1);
  auto* amqp = reinterpret_cast<amqp_services*>(1);
  for (const websocket_heads& heads :
       {websocket_heads{mqtt, nullptr, amqp, nullptr},
        websocket_heads{mqtt, nullptr, nullptr, nullptr},
        websocket_heads{nullptr, nullptr, amqp, nullptr}, websocket_heads{}})
    check(req, heads);
  return 0;
}
