#include "cli/http_client.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace hub::cli {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// Registry lists can be long; an answer beyond this is not from a hub.
constexpr std::uint64_t max_response_body = 64ull * 1024 * 1024;

enum class stage { resolve, connect, handshake, write, read };

struct outcome {
  stage at = stage::resolve;
  error_code ec;
  bool host_mismatch = false;  // the chain was trusted but does not name the host
  long verify_result = X509_V_OK;
  http_response response;
  bool done = false;
};

template <class Stream>
net::awaitable<void> exchange(Stream& stream, const hub_endpoint& ep, const http_request& req,
                              outcome& out) {
  http::request<http::string_body> msg;
  msg.version(11);
  msg.method_string(req.method);
  msg.target(req.target);
  msg.set(http::field::host, ep.authority());
  for (const auto& [name, value] : req.headers) msg.set(name, value);
  msg.body() = req.body;
  msg.prepare_payload();

  out.at = stage::write;
  co_await http::async_write(stream, msg, net::redirect_error(net::use_awaitable, out.ec));
  if (out.ec) co_return;

  out.at = stage::read;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response_body);
  co_await http::async_read(stream, buffer, parser,
                            net::redirect_error(net::use_awaitable, out.ec));
  if (out.ec) co_return;
  auto& res = parser.get();
  out.response.status = res.result_int();
  out.response.reason = std::string(res.reason());
  if (auto it = res.find("iothub-errorcode"); it != res.end()) {
    out.response.iothub_errorcode = std::string(it->value());
  }
  out.response.body = std::move(res.body());
  out.done = true;
}

net::awaitable<void> run(const hub_endpoint& ep, const http_request& req,
                         std::chrono::steady_clock::time_point deadline, ssl::context* tls,
                         outcome& out) {
  auto ex = co_await net::this_coro::executor;
  net::ip::tcp::resolver resolver(ex);
  out.at = stage::resolve;
  auto endpoints = co_await resolver.async_resolve(ep.host, std::to_string(ep.port),
                                                   net::redirect_error(net::use_awaitable, out.ec));
  if (out.ec) co_return;

  beast::tcp_stream tcp(ex);
  tcp.expires_at(deadline);
  out.at = stage::connect;
  co_await tcp.async_connect(endpoints, net::redirect_error(net::use_awaitable, out.ec));
  if (out.ec) co_return;

  if (tls == nullptr) {
    tcp.expires_at(deadline);
    co_await exchange(tcp, ep, req, out);
    co_return;
  }

  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *tls);
  // SNI only for names: RFC 6066 forbids IP literals there.
  if (!ep.host_is_ip() && !SSL_set_tlsext_host_name(stream.native_handle(), ep.host.c_str())) {
    out.at = stage::handshake;
    out.ec = error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    co_return;
  }
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback([check = ssl::host_name_verification(ep.host), &out](
                                 bool preverified, ssl::verify_context& ctx) {
    bool ok = check(preverified, ctx);
    if (preverified && !ok) out.host_mismatch = true;
    return ok;
  });
  out.at = stage::handshake;
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await stream.async_handshake(ssl::stream_base::client,
                                  net::redirect_error(net::use_awaitable, out.ec));
  if (out.ec) {
    out.verify_result = SSL_get_verify_result(stream.native_handle());
    co_return;
  }
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await exchange(stream, ep, req, out);
  // No TLS close_notify: the answer is complete and some servers never answer one.
}

bool is_verify_failure(const error_code& ec) {
  return ec.category() == net::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

[[noreturn]] void fail(const hub_endpoint& ep, const outcome& out, const http_options& opt) {
  const bool timed_out = out.ec == beast::error::timeout || out.ec == net::error::timed_out;
  switch (out.at) {
    case stage::resolve:
    case stage::connect:
      if (timed_out) {
        throw client_error(fmt::format("cannot connect to {}: no answer within {} s", ep.url,
                                       opt.timeout.count()));
      }
      throw client_error(fmt::format("cannot connect to {}: {}", ep.url, out.ec.message()));
    case stage::handshake:
      if (timed_out) {
        throw client_error(
            fmt::format("TLS handshake with {} timed out after {} s", ep.url, opt.timeout.count()));
      }
      if (out.host_mismatch) {
        throw client_error(fmt::format(
            "TLS certificate of {} does not name '{}'; connect with a host name the hub's "
            "certificate lists (its --hostname, localhost, 127.0.0.1 or ::1)",
            ep.host, ep.host));
      }
      if (is_verify_failure(out.ec) || out.verify_result != X509_V_OK) {
        throw client_error(fmt::format(
            "TLS certificate of {} is not trusted ({}); pass --ca <data-dir>/tls/ca.pem or set "
            "METHODHUB_CA",
            ep.host, X509_verify_cert_error_string(out.verify_result)));
      }
      throw client_error(fmt::format("TLS handshake with {} failed: {}{}", ep.url, out.ec.message(),
                                     ep.tls ? " (is it an http:// port?)" : ""));
    case stage::write:
    case stage::read:
      if (timed_out) {
        throw client_error(
            fmt::format("no answer from {} within {} s", ep.url, opt.timeout.count()));
      }
      // A TLS listener drops a plaintext request without answering it.
      throw client_error(fmt::format(
          "connection to {} failed before the answer was complete: {}{}", ep.url, out.ec.message(),
          !ep.tls && out.ec == http::error::end_of_stream ? " (is it an https:// port?)" : ""));
  }
  throw client_error("unreachable");
}

}  // namespace

http_response perform(const hub_endpoint& ep, const http_request& req, const http_options& opt) {
  std::optional<ssl::context> tls;
  if (ep.tls) {
    tls.emplace(ssl::context::tls_client);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    tls->set_default_verify_paths(ec);  // a missing system store is not fatal with --ca
    if (!opt.ca_file.empty()) {
      tls->load_verify_file(opt.ca_file.string(), ec);
      if (ec) {
        throw usage_error(
            fmt::format("cannot load CA file {}: {}", opt.ca_file.string(), ec.message()));
      }
    }
  }

  outcome out;
  const auto deadline = std::chrono::steady_clock::now() + opt.timeout;
  std::exception_ptr thrown;
  net::io_context ioc;  // declared last: its destructor frees the coroutine that refers to the rest
  net::co_spawn(ioc, run(ep, req, deadline, tls ? &*tls : nullptr, out),
                [&](std::exception_ptr e) { thrown = e; });
  // The tcp_stream deadline bounds connect/handshake/write/read; this bounds name resolution,
  // which cannot be cancelled by a stream timer.
  ioc.run_until(deadline + std::chrono::seconds(1));
  if (!ioc.stopped()) {
    ioc.stop();
    if (!out.done && !out.ec) out.ec = beast::error::timeout;
  }
  if (thrown) std::rethrow_exception(thrown);
  if (!out.done) fail(ep, out, opt);
  return std::move(out.response);
}

}  // namespace hub::cli
