#pragma once
// An in-memory stand-in for a connection's socket, so that a protocol head runs its real
// per-connection code with no network: fuzz targets and unit tests script the peer's bytes and
// read what the head wrote (in the spirit of Beast's test::stream).
//
// Reads hand out at most `chunk` bytes each, so packets arrive split as they may on a network.
// When the script is used up, a read waits until end_input() (then EOF): whatever the head does
// on its own first (registry round trips, requests the core delivers) still happens. The head
// shutting its "socket" down (lowest(s).close(), as with a tcp::socket) ends a waiting read
// with operation_aborted and fails later reads and writes.
//
// Thread safety: none. Use from one strand, as a socket.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace hub::transport {

/// The test's end of a memory_stream, shared with the stream the head owns.
class memory_peer {
 public:
  using executor_type = boost::asio::any_io_executor;
  using read_handler =
      boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

  /// `input`: everything the peer sends; `chunk`: largest read (0: as much as asked for).
  memory_peer(executor_type ex, std::string input, std::size_t chunk = 0)
      : ex_(std::move(ex)), input_(std::move(input)), chunk_(chunk) {}

  /// The peer has nothing more to say: a waiting read, and every later one, gets EOF.
  void end_input() {
    input_ended_ = true;
    complete_waiting(boost::asio::error::eof);
  }

  /// What the head wrote, in order.
  const std::string& output() const noexcept { return output_; }
  /// Whether the head shut the connection down.
  bool closed() const noexcept { return closed_; }
  /// Bytes of the script the head has not read yet.
  std::size_t unread() const noexcept { return input_.size() - read_pos_; }

 private:
  friend class memory_stream;

  template <class MutableBuffers>
  void start_read(const MutableBuffers& buffers, read_handler h) {
    namespace asio = boost::asio;
    if (closed_) return post(std::move(h), asio::error::bad_descriptor, 0);
    if (asio::buffer_size(buffers) == 0) return post(std::move(h), {}, 0);
    if (read_pos_ < input_.size()) {
      std::size_t n = deliver(buffers);
      return post(std::move(h), {}, n);
    }
    if (input_ended_) return post(std::move(h), asio::error::eof, 0);
    waiting_handler_.swap(h);  // the script is used up: no bytes will come, only the end
  }

  template <class ConstBuffers>
  std::size_t write(const ConstBuffers& buffers, boost::system::error_code& ec) {
    if (closed_) {
      ec = boost::asio::error::broken_pipe;
      return 0;
    }
    std::size_t old = output_.size();
    output_.resize(old + boost::asio::buffer_size(buffers));
    return boost::asio::buffer_copy(boost::asio::buffer(output_.data() + old, output_.size() - old),
                                    buffers);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    complete_waiting(boost::asio::error::operation_aborted);
  }

  template <class MutableBuffers>
  std::size_t deliver(const MutableBuffers& buffers) {
    std::size_t n = input_.size() - read_pos_;
    if (chunk_ != 0 && n > chunk_) n = chunk_;
    n = boost::asio::buffer_copy(buffers, boost::asio::buffer(input_.data() + read_pos_, n));
    read_pos_ += n;
    return n;
  }

  void complete_waiting(boost::system::error_code ec) {
    if (!waiting_handler_) return;
    read_handler h;
    h.swap(waiting_handler_);
    post(std::move(h), ec, 0);
  }

  // Completes on the stream's executor, which is the head's own.
  void post(read_handler h, boost::system::error_code ec, std::size_t n) {
    boost::asio::post(ex_, [h = std::move(h), ec, n]() mutable { std::move(h)(ec, n); });
  }

  executor_type ex_;
  std::string input_;
  std::size_t chunk_ = 0;
  std::size_t read_pos_ = 0;
  bool input_ended_ = false;
  bool closed_ = false;
  std::string output_;
  // Moved only by swap or move construction: Boost 1.81's any_completion_handler move
  // assignment wraps its argument as an lvalue and recurses without end.
  read_handler waiting_handler_;
};

/// The head's end: an AsyncReadStream and AsyncWriteStream over a memory_peer.
class memory_stream {
 public:
  using executor_type = memory_peer::executor_type;

  explicit memory_stream(std::shared_ptr<memory_peer> peer) : peer_(std::move(peer)) {}

  executor_type get_executor() noexcept { return peer_->ex_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          peer_->start_read(b, memory_peer::read_handler(std::move(handler)));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          boost::system::error_code ec;
          std::size_t n = peer_->write(b, ec);
          peer_->post(memory_peer::read_handler(std::move(handler)), ec, n);
        },
        token, buffers);
  }

  // What the heads call on the socket under their stream (see lowest() below).
  void shutdown(boost::asio::ip::tcp::socket::shutdown_type, boost::system::error_code&) {
    peer_->close();
  }
  void close(boost::system::error_code&) { peer_->close(); }

 private:
  std::shared_ptr<memory_peer> peer_;
};

/// The heads reach the socket under any stream through an unqualified `lowest(stream)`; found
/// by argument-dependent lookup, this makes the stream its own lowest layer.
inline memory_stream& lowest(memory_stream& s) noexcept {
  return s;
}

}  // namespace hub::transport
