#pragma once
// A WebSocket connection seen as a byte stream, so the MQTT and AMQP heads run over it
// unchanged (spec/protocol.md §5): reads return the bytes of binary frames as they come (a
// packet may span frames, a frame may hold several packets); each write goes out as one binary
// message.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <utility>

namespace hub::transport {

template <class WebSocket>
class ws_byte_stream {
 public:
  using executor_type = typename WebSocket::executor_type;

  explicit ws_byte_stream(WebSocket&& ws) : ws_(std::move(ws)) {}

  executor_type get_executor() noexcept { return ws_.get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return ws_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return ws_.async_write(buffers, std::forward<Token>(token));
  }

  /// Whether the message being read is a text message. MQTT (3.1.1 §6) and AMQP's WebSocket
  /// binding allow binary messages only; the heads close on text.
  bool got_text() const { return ws_.got_text(); }

  /// The TCP socket underneath, to shut the connection down hard.
  boost::asio::ip::tcp::socket& lowest_socket() noexcept {
    return boost::beast::get_lowest_layer(ws_).socket();
  }

 private:
  WebSocket ws_;
};

/// True when the last read on `s` returned bytes of a WebSocket text message; never for a plain
/// byte stream.
template <class Stream>
bool read_text_frame(const Stream&) noexcept {
  return false;
}
template <class WebSocket>
bool read_text_frame(const ws_byte_stream<WebSocket>& s) noexcept {
  return s.got_text();
}

}  // namespace hub::transport
