// tls_stream against a real OpenSSL client (asio::ssl::stream) over loopback TCP: handshake on
// both protocol versions, small and large transfers both ways in pieces of every size (also
// with each read waiting for input first, as the MQTT head reads), the peer's close_notify, a peer
// that is not speaking TLS, and a peer that vanishes mid-record.

#include "transport/tls_stream.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>

#include "transport/certificates.hpp"
#include "transport/tls_context.hpp"

namespace hub::transport {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

class TlsStream : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("methodhub-tls-stream-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto files = ensure_certificates(dir_, "localhost");
    server_ctx_ = make_server_tls_context(files.server_chain, files.server_key);
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A connected client socket and the server's tls_stream on the accepted one.
  std::pair<tcp::socket, tls_stream> connect() {
    tcp::socket client(io_);
    client.connect(acceptor_.local_endpoint());
    tcp::socket server(io_);
    acceptor_.accept(server);
    return {std::move(client), tls_stream(std::move(server), *server_ctx_)};
  }

  // Runs until `done` or the deadline; fails the test on the deadline.
  void run_until(const bool& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(50));
      if (io_.stopped()) io_.restart();
    }
    ASSERT_TRUE(done) << "timed out";
  }

  static std::string random_bytes(std::size_t n) {
    std::mt19937 gen(static_cast<unsigned>(n));
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen());
    return s;
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::filesystem::path dir_;
  std::shared_ptr<ssl::context> server_ctx_;
};

// The server side: handshake, then echo what it reads, reading in `chunk` pieces; records how
// it ended.
struct echo_result {
  bool handshake_ok = false;
  bool ended = false;
  boost::system::error_code end;
};

// async_wait_readable takes a plain callable; a coroutine awaits it through async_initiate.
auto wait_readable(tls_stream& s) {
  return asio::async_initiate<decltype(use_nothrow), void(boost::system::error_code)>(
      [&s](auto handler) { s.async_wait_readable(std::move(handler)); }, use_nothrow);
}

// Echoes until the peer or an error ends it. `wait_first`: read as the MQTT head does, waiting
// for input before taking a buffer when nothing is buffered; bytes the stream holds but does
// not report would hang it.
asio::awaitable<void> echo(tls_stream& s, std::size_t chunk, echo_result& r,
                           bool wait_first = false) {
  auto [hec] = co_await s.async_handshake(use_nothrow);
  r.handshake_ok = !hec;
  r.end = hec;
  std::string buf(chunk, '\0');
  while (!hec) {
    if (wait_first && !s.has_buffered_input()) {
      auto [wec] = co_await wait_readable(s);
      if (wec) {
        r.end = wec;
        break;
      }
    }
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_nothrow);
    if (ec) {
      r.end = ec;
      break;
    }
    auto [wec, w] = co_await asio::async_write(s, asio::buffer(buf.data(), n), use_nothrow);
    if (wec) {
      r.end = wec;
      break;
    }
  }
  boost::system::error_code ignored;
  s.next_layer().close(ignored);  // as the heads do: no close_notify back
  r.ended = true;
}

std::shared_ptr<ssl::context> client_context(int version) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), version);
  SSL_CTX_set_max_proto_version(ctx->native_handle(), version);
  ctx->set_verify_mode(ssl::verify_none);  // the certificate is not what is under test here
  return ctx;
}

// The client: handshake, write `payload` while reading the echo back, then close_notify.
struct client_result {
  bool done = false;
  boost::system::error_code ec;
  std::string got;
};

asio::awaitable<void> client_echo(ssl::stream<tcp::socket>& c, const std::string& payload,
                                  client_result& r) {
  auto [hec] = co_await c.async_handshake(ssl::stream_base::client, use_nothrow);
  if (hec) {
    r.ec = hec;
    r.done = true;
    co_return;
  }
  // Write and read at once: a large payload does not fit in the socket buffers.
  asio::co_spawn(
      c.get_executor(),
      [&c, &payload, &r]() -> asio::awaitable<void> {
        auto [wec, w] = co_await asio::async_write(c, asio::buffer(payload), use_nothrow);
        if (wec) r.ec = wec;
      },
      asio::detached);
  r.got.resize(payload.size());
  auto [rec, n] = co_await asio::async_read(c, asio::buffer(r.got), use_nothrow);
  if (rec) r.ec = rec;
  (void)co_await c.async_shutdown(use_nothrow);  // ends when the server closes the socket
  r.done = true;
}

TEST_F(TlsStream, EchoesSmallAndLargePayloadsOverTls12And13) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    for (std::size_t size : {1u, 100u, 5000u, 1u << 20}) {
      for (std::size_t chunk : {7u, 256u, 64u * 1024}) {
        if (size > 5000 && chunk < 256) continue;  // 150 000 round trips add nothing
        SCOPED_TRACE("version " + std::to_string(version) + " size " + std::to_string(size) +
                     " server chunk " + std::to_string(chunk));
        auto [client_sock, server] = connect();
        auto ctx = client_context(version);
        ssl::stream<tcp::socket> client(std::move(client_sock), *ctx);
        echo_result er;
        client_result cr;
        std::string payload = random_bytes(size);
        asio::co_spawn(io_, echo(server, chunk, er), asio::detached);
        asio::co_spawn(io_, client_echo(client, payload, cr), asio::detached);
        run_until(cr.done);
        run_until(er.ended);  // the client's close_notify ends the server's read
        EXPECT_TRUE(er.handshake_ok);
        EXPECT_FALSE(cr.ec) << cr.ec.message();
        EXPECT_TRUE(cr.got == payload) << "the echo differs from what was sent";
        EXPECT_EQ(er.end, asio::error::eof) << er.end.message();
        EXPECT_EQ(SSL_version(server.native_handle()), version);
      }
    }
  }
}

TEST_F(TlsStream, EchoesWhenEachReadFirstWaitsForInput) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    for (std::size_t size : {1u, 100u, 5000u, 1u << 20}) {
      for (std::size_t chunk : {7u, 256u, 64u * 1024}) {
        if (size > 5000 && chunk < 256) continue;
        SCOPED_TRACE("version " + std::to_string(version) + " size " + std::to_string(size) +
                     " server chunk " + std::to_string(chunk));
        auto [client_sock, server] = connect();
        auto ctx = client_context(version);
        ssl::stream<tcp::socket> client(std::move(client_sock), *ctx);
        echo_result er;
        client_result cr;
        std::string payload = random_bytes(size);
        asio::co_spawn(io_, echo(server, chunk, er, /*wait_first=*/true), asio::detached);
        asio::co_spawn(io_, client_echo(client, payload, cr), asio::detached);
        run_until(cr.done);
        run_until(er.ended);
        EXPECT_TRUE(er.handshake_ok);
        EXPECT_FALSE(cr.ec) << cr.ec.message();
        EXPECT_TRUE(cr.got == payload) << "the echo differs from what was sent";
        EXPECT_EQ(er.end, asio::error::eof) << er.end.message();
      }
    }
  }
}

TEST_F(TlsStream, AFailedHandshakeSendsItsAlert) {
  // A TLS 1.1 client must hear why (the "protocol version" alert), not just see the socket close.
  auto [client_sock, server] = connect();
  auto ctx = client_context(TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(ctx->native_handle(), "DEFAULT:@SECLEVEL=0");
  ssl::stream<tcp::socket> client(std::move(client_sock), *ctx);
  echo_result er;
  client_result cr;
  std::string payload = "x";
  asio::co_spawn(io_, echo(server, 256, er), asio::detached);
  asio::co_spawn(io_, client_echo(client, payload, cr), asio::detached);
  run_until(cr.done);
  run_until(er.ended);
  EXPECT_FALSE(er.handshake_ok);
  ASSERT_EQ(cr.ec.category(), asio::error::get_ssl_category()) << cr.ec.message();
  EXPECT_EQ(ERR_GET_REASON(static_cast<unsigned long>(cr.ec.value())),
            SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      << cr.ec.message();
}

TEST_F(TlsStream, APeerNotSpeakingTlsFailsTheHandshake) {
  auto [client, server] = connect();
  echo_result er;
  asio::co_spawn(io_, echo(server, 256, er), asio::detached);
  std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(client, asio::buffer(junk));
  run_until(er.ended);
  EXPECT_FALSE(er.handshake_ok);
  EXPECT_TRUE(er.end);
}

TEST_F(TlsStream, APeerThatVanishesMidRecordEndsTheRead) {
  auto [client_sock, server] = connect();
  auto ctx = client_context(TLS1_3_VERSION);
  ssl::stream<tcp::socket> client(std::move(client_sock), *ctx);
  echo_result er;
  asio::co_spawn(io_, echo(server, 256, er), asio::detached);
  bool shook = false;
  client.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    shook = true;
  });
  run_until(shook);
  // Half a record header, then the TCP connection closes without close_notify.
  asio::write(client.next_layer(), asio::buffer(std::string("\x17\x03", 2)));
  client.next_layer().close();
  run_until(er.ended);
  EXPECT_TRUE(er.handshake_ok);
  EXPECT_TRUE(er.end);
}

}  // namespace
}  // namespace hub::transport
