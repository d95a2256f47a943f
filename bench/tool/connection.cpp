#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// Connections: each on its own strand; `slot` lets the main thread close it from outside.

void close_slots(const std::vector<std::shared_ptr<slot>>& slots) {
  for (const auto& s : slots)
    asio::post(s->strand, [s] {
      s->closing = true;
      if (s->sock) {
        boost::system::error_code ec;
        s->sock->close(ec);
      }
    });
}

std::string reason_of(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

// Opens `sock`, binds it to 127.0.0.<1 + source % sources> (port chosen at connect time, so each
// source address has its own ephemeral port range) and connects to 127.0.0.1:port.
awaitable<void> open_and_connect(tcp::socket& sock, std::uint16_t port, std::size_t source,
                                 std::size_t sources) {
  sock.open(tcp::v4());
  int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sock.set_option(tcp::no_delay(true));
  auto src = asio::ip::address_v4(
      0x7f000001u + static_cast<std::uint32_t>(source % std::max<std::size_t>(1, sources)));
  sock.bind(tcp::endpoint(src, 0));
  co_await sock.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), use_awaitable);
}

}  // namespace hub::bench
