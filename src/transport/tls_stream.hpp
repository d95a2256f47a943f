#pragma once
// A server-side TLS stream over a TCP socket for the device heads (MQTT, AMQP): OpenSSL driven
// through a BIO of our own instead of asio::ssl::stream.
//
// Why not asio::ssl::stream: it keeps four 17 KB buffers per connection for the connection's
// whole life (its BIO pair and its two staging vectors), 77 KB per idle TLS device as measured
// (issue 6, docs/performance.md). Here a connection holds ciphertext only while there is some:
// received bytes wait in `in` until OpenSSL reads them, produced bytes in `out` until the socket
// takes them, and OpenSSL frees its record buffers when idle (SSL_MODE_RELEASE_BUFFERS, set on
// the context).
//
// Contract: an Asio AsyncReadStream and AsyncWriteStream (at most one read and one write
// outstanding, as for any stream), used from one strand. Server side only; the context must
// disable renegotiation (make_server_tls_context does), so a read never needs to write more
// than a TLS 1.3 KeyUpdate answer, which goes out with the next write (or at once when the
// socket takes it without blocking).

#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string>

namespace hub::transport {

class tls_stream {
 public:
  using next_layer_type = boost::asio::ip::tcp::socket;
  using executor_type = next_layer_type::executor_type;

  tls_stream(next_layer_type socket, boost::asio::ssl::context& ctx);
  tls_stream(tls_stream&&) noexcept = default;
  tls_stream& operator=(tls_stream&&) noexcept = default;
  ~tls_stream();

  executor_type get_executor() { return socket_.get_executor(); }
  next_layer_type& next_layer() { return socket_; }
  SSL* native_handle() { return core_->ssl; }

  // Completes with (error_code) once the handshake is done and its last flight is sent.
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(handshake_op{this},
                                                                              token, socket_);
  }

  // Calls `handler(error_code)` once the socket has bytes for this stream; they are then
  // buffered here, so a read that follows needs no socket read. For callers that would rather
  // not hold a plaintext buffer while a connection idles: check has_buffered_input() first (a
  // read returns at once then). The wake-up may be spurious: a read then simply waits.
  //
  // A plain callable rather than a completion token, run through the socket's executor (its
  // own associated executor and allocator, if any, are not used): the socket's wait carries
  // it directly. As an async_compose operation (with its work guard and state) the wait every
  // idle TLS device keeps pending was ~290 B; this way it is ~150 B (heaptrack, issue 6).
  template <class Handler>
  void async_wait_readable(Handler&& handler) {
    drop_read_buffer();  // everything in it is consumed (has_buffered_input() was false)
    socket_.async_wait(next_layer_type::wait_read, [this, h = std::forward<Handler>(handler)](
                                                       boost::system::error_code ec) mutable {
      if (!ec) ec = read_ready();
      std::move(h)(ec);
    });
  }
  // Received bytes (ciphertext or decrypted plaintext) that a read would consume without
  // reading the socket.
  bool has_buffered_input() const;

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        read_op{this, first_buffer(buffers)}, token, socket_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        write_op{this, first_const_buffer(buffers)}, token, socket_);
  }

 private:
  // What OpenSSL's BIO sees; on the heap so that moving the stream keeps the BIO's pointer good.
  struct core {
    SSL* ssl = nullptr;
    std::string in;  // ciphertext from the socket; bytes [in_pos, in_end) not yet read
    std::size_t in_pos = 0;
    std::size_t in_end = 0;  // in.size() may be larger while a socket read is pending
    bool last_read_full = false;
    std::string out;      // ciphertext from OpenSSL, not yet handed to the socket
    std::string sending;  // handed to the socket by the write in progress
    bool writing = false;
  };

  enum class step { done, want_read, failed };
  // Runs after every OpenSSL call: turns its result into a step (and an error).
  static step classify(core& c, int ret, boost::system::error_code& ec);
  // Prepares `in` for a socket read and returns where the bytes go.
  boost::asio::mutable_buffer prepare_read();
  // True when nothing is buffered and the last read did not fill its buffer: the next read
  // waits for the socket to be readable before taking a buffer (and frees `in` now), so an idle
  // connection holds no ciphertext buffer at all.
  bool read_idle();
  // Frees `in` when every byte in it is consumed.
  void drop_read_buffer();
  // After the socket became readable: reads what it has without blocking (nothing when the
  // wake-up was spurious). Returns the socket's error, if any.
  boost::system::error_code read_ready();
  void commit_read(std::size_t n, std::size_t asked);
  // Hands `out` to the socket without blocking when no write is in progress (what a read
  // produced: a KeyUpdate answer); whatever the socket does not take waits for the next write.
  void flush_nonblocking();
  void move_out_to_sending();
  void release_sending();

  template <class Buffers>
  static boost::asio::mutable_buffer first_buffer(const Buffers& b) {
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
         ++it)
      if (boost::asio::mutable_buffer m(*it); m.size() > 0) return m;
    return {};
  }
  template <class Buffers>
  static boost::asio::const_buffer first_const_buffer(const Buffers& b) {
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
         ++it)
      if (boost::asio::const_buffer m(*it); m.size() > 0) return m;
    return {};
  }

  int do_read(boost::asio::mutable_buffer b);
  int do_write(boost::asio::const_buffer b);
  int do_handshake();

  // The operations: small state machines. `pending` names the socket operation whose completion
  // the next call is (none on the first call).
  enum class pending { none, read, wait, write };
  struct handshake_op {
    tls_stream* s;
    pending p = pending::none;
    std::size_t asked = 0;
    boost::system::error_code failure{};  // set once OpenSSL has failed the handshake
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0);
  };
  struct read_op {
    tls_stream* s;
    boost::asio::mutable_buffer buffer;
    pending p = pending::none;
    std::size_t asked = 0;
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0);
  };
  struct write_op {
    tls_stream* s;
    boost::asio::const_buffer buffer;
    pending p = pending::none;
    std::size_t written = 0;
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0);
  };

  next_layer_type socket_;
  std::unique_ptr<core> core_;
};

// --- operations ---------------------------------------------------------------------------

template <class Self>
void tls_stream::handshake_op::operator()(Self& self, boost::system::error_code ec, std::size_t n) {
  core& c = *s->core_;
  if (p == pending::read) s->commit_read(n, asked);
  if (p == pending::write) s->release_sending();
  p = pending::none;
  if (failure) return self.complete(failure);  // the alert is out (or could not be sent)
  if (ec) return self.complete(ec);
  step st = step::done;
  if (c.out.empty()) st = classify(c, s->do_handshake(), failure);
  if (!c.out.empty()) {
    // A flight to send before reading the peer's next one, or the alert that says why the
    // handshake failed (a TLS 1.0 client must hear "protocol version", not a bare close).
    s->move_out_to_sending();
    p = pending::write;
    return boost::asio::async_write(s->socket_, boost::asio::buffer(c.sending), std::move(self));
  }
  if (st == step::failed) return self.complete(failure);
  if (st == step::done) return self.complete({});
  auto b = s->prepare_read();
  asked = b.size();
  p = pending::read;
  s->socket_.async_read_some(b, std::move(self));
}

template <class Self>
void tls_stream::read_op::operator()(Self& self, boost::system::error_code ec, std::size_t n) {
  core& c = *s->core_;
  if (p == pending::read) s->commit_read(n, asked);
  if (p == pending::wait && !ec) ec = s->read_ready();
  p = pending::none;
  if (ec) return self.complete(ec, 0);
  if (buffer.size() == 0) return self.complete({}, 0);
  int ret = s->do_read(buffer);
  boost::system::error_code err;
  step st = classify(c, ret, err);
  if (!c.out.empty()) s->flush_nonblocking();
  if (st == step::done) return self.complete({}, static_cast<std::size_t>(ret));
  if (st == step::failed) return self.complete(err, 0);
  if (s->read_idle()) {
    p = pending::wait;
    return s->socket_.async_wait(next_layer_type::wait_read, std::move(self));
  }
  auto b = s->prepare_read();
  asked = b.size();
  p = pending::read;
  s->socket_.async_read_some(b, std::move(self));
}

template <class Self>
void tls_stream::write_op::operator()(Self& self, boost::system::error_code ec, std::size_t) {
  core& c = *s->core_;
  if (p == pending::write) {
    s->release_sending();
    if (ec) return self.complete(ec, 0);
  } else {
    if (buffer.size() == 0) return self.complete({}, 0);
    int ret = s->do_write(buffer);
    boost::system::error_code err;
    // Our BIO never blocks a write and renegotiation is off, so anything but done is an error.
    if (classify(c, ret, err) != step::done)
      return self.complete(err ? err : boost::asio::error::fault, 0);
    written = static_cast<std::size_t>(ret);
  }
  if (c.out.empty()) return self.complete({}, written);
  s->move_out_to_sending();
  p = pending::write;
  boost::asio::async_write(s->socket_, boost::asio::buffer(c.sending), std::move(self));
}

}  // namespace hub::transport
