#include "echo_server.hpp"

#include <array>
#include <csignal>
#include <exception>
#include <fstream>
#include <thread>
#include <vector>

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// The echo server (ceiling), as its own process like the hub and mosquitto.

int echo_server_main(const fs::path& port_file, int threads) {
  asio::io_context ioc(threads);
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  {
    std::ofstream out(port_file.string() + ".tmp");
    out << acc.local_endpoint().port() << "\n";
  }
  fs::rename(port_file.string() + ".tmp", port_file);
  asio::signal_set sig(ioc, SIGINT, SIGTERM);
  sig.async_wait([&](auto, int) { ioc.stop(); });
  auto session = [](tcp::socket s) -> awaitable<void> {
    try {
      s.set_option(tcp::no_delay(true));
      std::array<char, 4096> buf;
      for (;;) {
        std::size_t n = co_await s.async_read_some(asio::buffer(buf), use_awaitable);
        co_await asio::async_write(s, asio::buffer(buf.data(), n), use_awaitable);
      }
    } catch (const std::exception&) {
    }
  };
  auto accept_loop = [&]() -> awaitable<void> {
    for (;;) {
      auto s = co_await acc.async_accept(asio::make_strand(ioc), use_awaitable);
      asio::co_spawn(s.get_executor(), session(std::move(s)), asio::detached);
    }
  };
  asio::co_spawn(ioc, accept_loop(), asio::detached);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace hub::bench
