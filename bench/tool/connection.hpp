#pragma once
// Connections: each on its own strand; a `slot` lets the main thread close it from outside
// (close_slots). open_and_connect() gives each source address of 127.0.0.0/8 its own ephemeral
// port range; read_more/read_packet/mqtt_handshake are bounded (in bytes and in packets) and throw
// on anything unexpected.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "codec/mqtt/packets.hpp"
#include "common.hpp"

namespace hub::bench {

using strand_t = asio::strand<asio::io_context::executor_type>;

struct slot {
  explicit slot(asio::io_context& ioc) : strand(asio::make_strand(ioc)) {}
  strand_t strand;
  tcp::socket* sock = nullptr;  // touched only on `strand`
  bool closing = false;
};

void close_slots(const std::vector<std::shared_ptr<slot>>& slots);

struct slot_guard {
  slot& s;
  ~slot_guard() { s.sock = nullptr; }
};

std::string reason_of(const std::exception& e);

awaitable<void> open_and_connect(tcp::socket& sock, std::uint16_t port, std::size_t source,
                                 std::size_t sources);

template <class S>
awaitable<void> read_more(S& s, std::string& in) {
  constexpr std::size_t chunk = 4096;
  if (in.size() > 1024 * 1024) throw std::runtime_error("receive buffer overflow");
  std::size_t old = in.size();
  in.resize(old + chunk);
  std::size_t n = 0;
  try {
    n = co_await s.async_read_some(asio::buffer(in.data() + old, chunk), use_awaitable);
  } catch (...) {
    in.resize(old);
    throw;
  }
  in.resize(old + n);
}

template <class S>
awaitable<mqtt::packet> read_packet(S& s, std::string& in) {
  for (int i = 0; i < 100000; ++i) {
    auto r = mqtt::decode(in);
    if (r.status == mqtt::decode_status::ok) {
      in.erase(0, r.consumed);
      co_return std::move(r.packet);
    }
    if (r.status == mqtt::decode_status::error)
      throw std::runtime_error("MQTT decode error: " + std::string(mqtt::to_string(r.error)));
    co_await read_more(s, in);
  }
  throw std::runtime_error("MQTT packet never completed");
}

// CONNECT, CONNACK, SUBSCRIBE `filter`, SUBACK. Throws with the refusal as the reason.
template <class S>
awaitable<void> mqtt_handshake(S& s, std::string& in, mqtt::connect c, const std::string& filter) {
  std::string out;
  mqtt::encode(out, c);
  co_await asio::async_write(s, asio::buffer(out), use_awaitable);
  auto p = co_await read_packet(s, in);
  auto* ca = std::get_if<mqtt::connack>(&p);
  if (!ca) throw std::runtime_error("no CONNACK");
  if (ca->return_code != mqtt::connect_return_code::accepted)
    throw std::runtime_error("CONNACK refused (code " +
                             std::to_string(static_cast<int>(ca->return_code)) + ")");
  out.clear();
  mqtt::subscribe sub;
  sub.packet_id = 1;
  sub.subscriptions.push_back({filter, 0});
  mqtt::encode(out, sub);
  co_await asio::async_write(s, asio::buffer(out), use_awaitable);
  for (int i = 0; i < 100; ++i) {
    auto q = co_await read_packet(s, in);
    if (auto* sa = std::get_if<mqtt::suback>(&q)) {
      if (sa->return_codes.empty() || sa->return_codes[0] == mqtt::suback_failure)
        throw std::runtime_error("SUBACK refused");
      co_return;
    }
  }
  throw std::runtime_error("no SUBACK");
}

}  // namespace hub::bench
