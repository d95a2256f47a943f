#include "transport/http_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/error_response.hpp"

namespace hub::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

beast::tcp_stream& lowest(beast::tcp_stream& s) { return s; }
beast::tcp_stream& lowest(beast::ssl_stream<beast::tcp_stream>& s) { return beast::get_lowest_layer(s); }

http::response<http::string_body> to_beast(api::http_response&& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "methodhub");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) res.set(name, value);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

template <class Stream>
asio::awaitable<void> write_response(Stream& stream, api::http_response r, unsigned version, bool keep_alive,
                                     const http_limits& limits, beast::error_code& ec) {
  auto res = to_beast(std::move(r), version, keep_alive);
  lowest(stream).expires_after(limits.write_timeout);
  std::tie(ec, std::ignore) = co_await http::async_write(stream, res, use_nothrow);
}

template <class Stream>
asio::awaitable<void> serve(Stream& stream, api::services& svc, const http_limits& limits) {
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);

    // Until the first byte of a request, the connection is idle; then the whole request must
    // arrive within read_timeout (a slow sender cannot hold the connection forever).
    lowest(stream).expires_after(first ? limits.read_timeout : limits.idle_timeout);
    first = false;
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
    if (ec == http::error::header_limit) {
      beast::error_code wec;
      co_await write_response(stream, api::error_response(errc::argument_invalid, "Request headers too large."),
                              11, false, limits, wec);
      co_return;
    }
    if (ec) co_return;  // closed, timed out, or garbage: nothing useful to answer
    auto& req_header = parser.get();
    const unsigned version = req_header.version();
    bool keep_alive = req_header.keep_alive();

    // Refuse a body over the limit from its declared length, before reading it.
    if (auto len = parser.content_length(); len && *len > limits.max_body_bytes) {
      beast::error_code wec;
      co_await write_response(stream,
                              api::error_response(errc::message_too_large,
                                                  "The request body is larger than " +
                                                      std::to_string(limits.max_body_bytes) + " bytes."),
                              version, false, limits, wec);
      co_return;
    }
    lowest(stream).expires_after(limits.read_timeout);
    std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec == http::error::body_limit) {
      beast::error_code wec;
      co_await write_response(stream, api::error_response(errc::message_too_large), version, false, limits, wec);
      co_return;
    }
    if (ec) co_return;
    lowest(stream).expires_never();  // an invoke may legitimately take connect + response timeouts

    auto msg = parser.release();
    api::http_request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    if (auto it = msg.find(http::field::authorization); it != msg.end()) req.authorization = std::string(it->value());
    if (auto it = msg.find(http::field::if_match); it != msg.end()) req.if_match = std::string(it->value());
    if (auto it = msg.find("Request-Id"); it != msg.end()) req.request_id = std::string(it->value());
    req.body = std::move(msg.body());

    auto res = co_await api::handle_request(std::move(req), svc);
    beast::error_code wec;
    co_await write_response(stream, std::move(res), version, keep_alive, limits, wec);
    if (wec || !keep_alive) break;
  }
  beast::error_code ec;
  lowest(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> run_tls(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, api::services& svc,
                              http_limits limits) {
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(limits.handshake_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
  if (ec) co_return;
  co_await serve(stream, svc, limits);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(use_nothrow);
}

asio::awaitable<void> run_plain(tcp::socket socket, api::services& svc, http_limits limits) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, svc, limits);
}

}  // namespace

void start_http_session(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, api::services& svc,
                        const http_limits& limits) {
  auto ex = socket.get_executor();
  auto on_done = [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      spdlog::warn("http session ended by an unexpected error: {}", x.what());
    }
  };
  if (tls)
    asio::co_spawn(ex, run_tls(std::move(socket), std::move(tls), svc, limits), on_done);
  else
    asio::co_spawn(ex, run_plain(std::move(socket), svc, limits), on_done);
}

}  // namespace hub::transport
