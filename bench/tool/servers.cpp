#include "servers.hpp"

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"

namespace hub::bench {

hub_process start_hub(const options& o, const fs::path& data, const fs::path& log) {
  std::vector<std::string> argv{o.hub_bin,      "serve",     "--data-dir",      data.string(),
                                "--hostname",   "localhost", "--bind",          "127.0.0.1",
                                "--https-port", "0",         "--mqtt-port",     "0",
                                "--amqp-port",  "0",         "--mqtt-tcp-port", "0",
                                "--http-port",  "0",         "--log-level",     "warn"};
  if (o.hub_threads > 0) {
    argv.push_back("--threads");
    argv.push_back(std::to_string(o.hub_threads));
  }
  fs::remove(data / "listening.json");
  hub_process h;
  h.pid = spawn(argv, log);
  auto until = clk::now() + std::chrono::seconds(60);
  while (clk::now() < until) {
    if (!child_alive(h.pid))
      throw std::runtime_error("the hub exited at start; its log:\n" + tail_of(log));
    if (fs::exists(data / "listening.json")) {
      auto j = read_file(data / "listening.json");
      h.http = static_cast<std::uint16_t>(json_number_after(j, "http"));
      h.https = static_cast<std::uint16_t>(json_number_after(j, "https"));
      h.mqtt = static_cast<std::uint16_t>(json_number_after(j, "mqtt"));
      h.mqtts = static_cast<std::uint16_t>(json_number_after(j, "mqtts"));
      if (h.http && h.https && h.mqtt && h.mqtts) return h;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the hub did not write listening.json within 60 s; its log:\n" +
                           tail_of(log));
}

std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

void wait_port(std::uint16_t port, pid_t pid, const fs::path& log) {
  auto until = clk::now() + std::chrono::seconds(20);
  while (clk::now() < until) {
    if (!child_alive(pid))
      throw std::runtime_error("server exited at start; its log:\n" + tail_of(log));
    asio::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    if (!ec) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("server did not listen on " + std::to_string(port) + " within 20 s");
}

}  // namespace hub::bench
