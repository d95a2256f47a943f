#include "transport/http_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "api/error_response.hpp"
#include "transport/amqp_websocket.hpp"
#include "transport/connection_deadline.hpp"
#include "transport/http_request_parser.hpp"
#include "transport/http_response_writer.hpp"
#include "transport/mqtt_session.hpp"
#include "transport/websocket_upgrade.hpp"

namespace hub::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

beast::tcp_stream& lowest(beast::tcp_stream& s) {
  return s;
}
beast::tcp_stream& lowest(beast::ssl_stream<beast::tcp_stream>& s) {
  return beast::get_lowest_layer(s);
}

// Plain HTTP is served on the bare socket: Beast's tcp_stream wraps every read and write in a
// composed operation with its own timer bookkeeping, which the session does not use (it keeps
// one connection_deadline instead). TLS keeps the tcp_stream its ssl_stream was built on.
tcp::socket& socket_of(tcp::socket& s) {
  return s;
}
tcp::socket& socket_of(beast::ssl_stream<beast::tcp_stream>& s) {
  return beast::get_lowest_layer(s).socket();
}
void stop_stream_timer(tcp::socket&) {}
void stop_stream_timer(beast::ssl_stream<beast::tcp_stream>& s) {
  beast::get_lowest_layer(s).expires_never();
}

// The layer a WebSocket stream is built on: the heads take a tcp_stream (or TLS over one).
beast::tcp_stream ws_layer(tcp::socket&& s) {
  return beast::tcp_stream(std::move(s));
}
beast::ssl_stream<beast::tcp_stream>&& ws_layer(beast::ssl_stream<beast::tcp_stream>&& s) {
  return std::move(s);
}

template <class Stream>
asio::awaitable<void> write_response(Stream& stream, connection_deadline& deadline,
                                     api::http_response r, unsigned version, bool keep_alive,
                                     const http_limits& limits, beast::error_code& ec) {
  const auto bytes = serialize_response(r, version, keep_alive);
  deadline.expires_after(limits.write_timeout);
  std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(bytes), use_nothrow);
}

// Feeds `parser` what `buffer` already holds, up to the end of the header (or, with
// `whole_message`, of the message). A small request usually arrives in one segment: parsing it in
// place spares the asynchronous header and body reads, each a composed operation.
// Running out of bytes is not an error; the parser's own errors are the ones Beast's reads give.
beast::error_code parse_buffered(http_request_parser& parser, beast::flat_buffer& buffer,
                                 bool whole_message) {
  beast::error_code ec;
  parser.eager(whole_message);
  while (buffer.size() > 0 && !(whole_message ? parser.is_done() : parser.is_header_done())) {
    const auto n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_more) return {};
    if (ec || n == 0) break;
  }
  return ec;
}

// After an early error answer the client may still be sending a body we refused to read. Closing
// at once would reset the connection under its feet and it might never see our answer, so read
// and discard for a short, bounded while first (a "lingering close", as nginx does).
template <class Stream>
asio::awaitable<void> linger(Stream& stream, connection_deadline& deadline,
                             const http_limits& limits) {
  std::array<char, 8192> sink;
  std::size_t total = 0;
  const std::size_t budget = 4 * limits.max_body_bytes + 64 * 1024;
  deadline.expires_after(std::chrono::seconds(2));
  while (total < budget) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_nothrow);
    if (ec) break;
    total += n;
  }
}

// Answers with an error and closes, lingering so the client reads the answer.
template <class Stream>
asio::awaitable<void> refuse(Stream& stream, connection_deadline& deadline, api::http_response res,
                             unsigned version, const http_limits& limits) {
  beast::error_code wec;
  co_await write_response(stream, deadline, std::move(res), version, false, limits, wec);
  if (!wec) co_await linger(stream, deadline, limits);
}

template <class Stream>
asio::awaitable<bool> upgrade(Stream& stream, connection_deadline& deadline,
                              http::request<http::string_body> req, const websocket_heads& heads,
                              const http_limits& limits) {
  beast::error_code ec;
  auto fail = [&](std::string_view why) -> asio::awaitable<bool> {
    beast::error_code wec;
    co_await write_response(stream, deadline, api::error_response(errc::argument_invalid, why),
                            req.version(), false, limits, wec);
    co_return false;
  };
  auto decision = decide_upgrade(req, heads);
  if (decision.head == ws_head::none) co_return co_await fail(decision.refusal);
  // Named variables, not a structured binding: clang before 16 cannot capture one in a lambda.
  const auto head = decision.head;
  const auto proto = std::move(decision.subprotocol);

  deadline.stop();  // the socket moves into the WebSocket stream, under Beast's own timeouts
  beast::websocket::stream<std::decay_t<decltype(ws_layer(std::move(stream)))>> ws(
      ws_layer(std::move(stream)));
  lowest(ws.next_layer()).expires_never();  // the protocol head keeps its own deadlines
  beast::websocket::stream_base::timeout opt{limits.handshake_timeout,
                                             beast::websocket::stream_base::none(), false};
  ws.set_option(opt);
  ws.set_option(
      beast::websocket::stream_base::decorator([proto](beast::websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, proto);
        res.set(http::field::server, "methodhub");
      }));
  ws.binary(true);
  ws.auto_fragment(false);
  // A message holds at most a packet or frame or two; bigger ones are refused by Beast.
  ws.read_message_max(head == ws_head::mqtt ? 2 * heads.mqtt_lim->max_packet_bytes
                                            : 2 * std::size_t{heads.amqp_lim->max_frame_size});
  std::tie(ec) = co_await ws.async_accept(req, use_nothrow);
  if (ec) co_return true;
  if (head == ws_head::mqtt)
    co_await run_mqtt_over_websocket(std::move(ws), *heads.mqtt, *heads.mqtt_lim);
  else
    co_await run_amqp_over_websocket(std::move(ws), *heads.amqp, *heads.amqp_lim);
  co_return true;
}

// Serves requests until the connection ends. Returns true when the stream was handed to a
// WebSocket head (and so is no longer this session's to shut down).
template <class Stream>
asio::awaitable<bool> serve(Stream& stream, api::services& svc, const http_limits& limits,
                            const websocket_heads& heads) {
  beast::flat_buffer buffer;
  // Kept from one request to the next, so that a keep-alive connection's requests and answers
  // reuse their strings' capacity instead of allocating each anew (issue 6).
  api::http_request spent;
  std::string out;
  bool first = true;
  // The session's deadlines, instead of the tcp_stream's per-operation timers (see
  // connection_deadline.hpp). Each hot-path deadline is at least the shortest of the three
  // timeouts away, so none of them re-arms the timer.
  stop_stream_timer(stream);
  connection_deadline deadline(
      socket_of(stream),
      std::min({limits.read_timeout, limits.write_timeout, limits.idle_timeout}));
  for (;;) {
    http_request_parser parser;
    parser.reuse(std::move(spent));
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);

    // Between requests the connection is idle; from the first byte of a request (or from the
    // start of the connection, for its first) the whole request must arrive within
    // read_timeout, however slowly its bytes trickle in (slowloris). One deadline per request:
    // it is not re-armed between the headers and the body.
    if (!first && buffer.size() == 0) {
      deadline.expires_after(limits.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_nothrow);
      if (ec) co_return false;  // closed by the client, or idle too long
      buffer.commit(n);
    }
    first = false;
    deadline.expires_after(limits.read_timeout);
    auto ec = parse_buffered(parser, buffer, false);
    std::size_t n = 0;
    if (!ec && !parser.is_header_done())
      std::tie(ec, n) = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
    if (ec == http::error::header_limit) {
      co_await refuse(stream, deadline,
                      api::error_response(errc::argument_invalid, "Request headers too large."), 11,
                      limits);
      co_return false;
    }
    if (ec == http::error::body_limit) {
      // Beast's parser checks Content-Length against body_limit with the header: refuse the
      // body from its declared length, before any of it is read.
      co_await refuse(stream, deadline,
                      api::error_response(errc::message_too_large,
                                          "The request body is larger than " +
                                              std::to_string(limits.max_body_bytes) + " bytes."),
                      11, limits);
      co_return false;
    }
    if (ec) co_return false;  // closed, timed out, or garbage: nothing useful to answer
    if (parser.websocket()) {
      if (parser.content_length() && *parser.content_length() > 0) {
        beast::error_code wec;
        co_await write_response(
            stream, deadline,
            api::error_response(errc::argument_invalid, "A WebSocket upgrade has no body."),
            parser.version(), false, limits, wec);
        co_return false;
      }
      co_return co_await upgrade(stream, deadline, std::move(parser.websocket_request()), heads,
                                 limits);
    }
    const unsigned version = parser.version();
    const bool keep_alive = parser.keep_alive();

    // curl and .NET send `Expect: 100-continue` before larger bodies; answer it rather than make
    // them wait out their own timer.
    if (parser.expects_continue()) {
      http::response<http::empty_body> cont{http::status::continue_, version};
      std::tie(ec, n) = co_await http::async_write(stream, cont, use_nothrow);
      if (ec) co_return false;
    }
    if (!parser.is_done()) ec = parse_buffered(parser, buffer, true);
    if (!ec && !parser.is_done())
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec == http::error::body_limit) {
      co_await refuse(stream, deadline, api::error_response(errc::message_too_large), version,
                      limits);
      co_return false;
    }
    if (ec) co_return false;
    deadline.expires_never();  // an invoke may legitimately take connect + response timeouts

    auto& req = parser.request();
    auto step = api::route_request(req, svc);
    api::http_response res;
    if (auto* call = std::get_if<invoke_request>(&step))
      res = api::invoke_answer(
          co_await svc.invoker.async_invoke(std::move(*call), asio::use_awaitable));
    else if (auto* answer = std::get_if<asio::awaitable<api::http_response>>(&step))
      res = co_await std::move(*answer);
    else
      res = std::move(std::get<api::http_response>(step));
    api::finish_response(req, res);
    serialize_response(res, version, keep_alive, out);
    spent = std::move(req);
    deadline.expires_after(limits.write_timeout);
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(out), use_nothrow);
    if (wec || !keep_alive) break;
    if (out.capacity() > 4096) std::string().swap(out);  // one large answer is not kept
  }
  beast::error_code ec;
  socket_of(stream).shutdown(tcp::socket::shutdown_send, ec);
  co_return false;
}

asio::awaitable<void> run_tls(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                              api::services& svc, http_limits limits, websocket_heads heads) {
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(limits.handshake_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
  if (ec) co_return;
  if (co_await serve(stream, svc, limits, heads)) co_return;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(use_nothrow);
}

asio::awaitable<void> run_plain(tcp::socket socket, api::services& svc, http_limits limits,
                                websocket_heads heads) {
  co_await serve(socket, svc, limits, heads);
}

}  // namespace

void start_http_session(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                        api::services& svc, const http_limits& limits, const websocket_heads& ws,
                        connection_ticket ticket) {
  auto ex = socket.get_executor();
  // The completion handler holds the ticket: the connection's place is freed when it ends.
  // (Asio 1.81's co_spawn copies its handler: the ticket rides in a shared_ptr.)
  auto on_done =
      [t = std::make_shared<connection_ticket>(std::move(ticket))](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          spdlog::warn("http session ended by an unexpected error: {}", x.what());
        }
      };
  if (tls)
    asio::co_spawn(ex, run_tls(std::move(socket), std::move(tls), svc, limits, ws), on_done);
  else
    asio::co_spawn(ex, run_plain(std::move(socket), svc, limits, ws), on_done);
}

}  // namespace hub::transport
