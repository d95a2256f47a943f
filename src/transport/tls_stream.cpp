#include "transport/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace hub::transport {

namespace asio = boost::asio;

namespace {

// Ciphertext read from the socket at a time: small after an idle wait (a device's small
// messages fit: a 150-byte MQTT packet is a 172-byte TLS 1.3 record), a whole maximum TLS
// record (16 KB + overhead) after a read that filled the buffer. While idle, no buffer at all
// (read_idle).
constexpr std::size_t idle_read = 512;
constexpr std::size_t busy_read = 16 * 1024 + 512;
// Plaintext handed to SSL_write at once: bounds `out` (ciphertext is plaintext + ~1.5 %).
constexpr std::size_t max_write = 64 * 1024;
// Buffers above this are freed once empty, so neither the handshake's flights nor a burst's
// buffers are held while idle.
constexpr std::size_t kept_capacity = 512;

}  // namespace

// The BIO OpenSSL reads ciphertext from and writes it to: a view of the stream's buffers.
// Reading with nothing buffered says "retry" (SSL_ERROR_WANT_READ): the stream then reads the
// socket. Writing always succeeds: the bytes wait in `out` until the stream sends them.
namespace {

template <class Core>
Core* core_of(BIO* b) {
  return static_cast<Core*>(BIO_get_data(b));
}

}  // namespace

struct tls_bio {
  template <class Core>
  static int write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    core_of<Core>(b)->out.append(data, static_cast<std::size_t>(len));
    return len;
  }
  template <class Core>
  static int read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    auto* c = core_of<Core>(b);
    std::size_t avail = c->in_end - c->in_pos;
    if (avail == 0) {
      BIO_set_retry_read(b);
      return -1;
    }
    std::size_t n = std::min<std::size_t>(avail, static_cast<std::size_t>(std::max(len, 0)));
    std::memcpy(data, c->in.data() + c->in_pos, n);
    c->in_pos += n;
    return static_cast<int>(n);
  }
  template <class Core>
  static long ctrl(BIO* b, int cmd, long, void*) {
    auto* c = core_of<Core>(b);
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_PENDING:
        return static_cast<long>(c->in_end - c->in_pos);
      case BIO_CTRL_WPENDING:
        return static_cast<long>(c->out.size());
      default:
        return 0;  // not supported (dup, reset, kTLS queries, ...)
    }
  }
  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static int destroy(BIO*) { return 1; }

  template <class Core>
  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "methodhub-tls");
      if (!meth || BIO_meth_set_write(meth, &write<Core>) != 1 ||
          BIO_meth_set_read(meth, &read<Core>) != 1 || BIO_meth_set_ctrl(meth, &ctrl<Core>) != 1 ||
          BIO_meth_set_create(meth, &create) != 1 || BIO_meth_set_destroy(meth, &destroy) != 1)
        throw std::runtime_error("cannot create the TLS BIO method");
      return meth;
    }();
    return m;
  }
};

tls_stream::tls_stream(next_layer_type socket, asio::ssl::context& ctx)
    : socket_(std::move(socket)), core_(std::make_unique<core>()) {
  core_->ssl = SSL_new(ctx.native_handle());
  BIO* bio = core_->ssl ? BIO_new(tls_bio::method<core>()) : nullptr;
  if (!bio) {
    SSL_free(core_->ssl);
    core_->ssl = nullptr;
    throw std::runtime_error("cannot create a TLS session");
  }
  BIO_set_data(bio, core_.get());
  SSL_set_bio(core_->ssl, bio, bio);  // one BIO both ways: the SSL owns its one reference
  SSL_set_accept_state(core_->ssl);
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // for flush_nonblocking's synchronous write_some
}

tls_stream::~tls_stream() {
  if (core_ && core_->ssl) SSL_free(core_->ssl);
}

tls_stream::step tls_stream::classify(core& c, int ret, boost::system::error_code& ec) {
  if (ret > 0) return step::done;
  switch (SSL_get_error(c.ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return step::want_read;
    case SSL_ERROR_ZERO_RETURN:  // close_notify from the peer
      ec = asio::error::eof;
      return step::failed;
    case SSL_ERROR_SSL:
      if (unsigned long e = ERR_get_error(); e != 0)
        ec = boost::system::error_code(static_cast<int>(e), asio::error::get_ssl_category());
      else
        ec = asio::ssl::error::stream_truncated;
      ERR_clear_error();
      return step::failed;
    default:  // SYSCALL, WANT_WRITE: neither can happen with this BIO
      ec = asio::error::fault;
      ERR_clear_error();
      return step::failed;
  }
}

int tls_stream::do_handshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(core_->ssl);
  return ret == 1 ? 1 : std::min(ret, 0);
}

int tls_stream::do_read(asio::mutable_buffer b) {
  ERR_clear_error();
  int len = static_cast<int>(std::min<std::size_t>(b.size(), INT_MAX));
  return SSL_read(core_->ssl, b.data(), len);
}

int tls_stream::do_write(asio::const_buffer b) {
  ERR_clear_error();
  int len = static_cast<int>(std::min(b.size(), max_write));
  return SSL_write(core_->ssl, b.data(), len);
}

asio::mutable_buffer tls_stream::prepare_read() {
  core& c = *core_;
  if (c.in_pos == c.in_end) {  // everything consumed: start over, small unless busy
    c.in_pos = c.in_end = 0;
    if (!c.last_read_full && c.in.capacity() > idle_read) std::string().swap(c.in);
  } else if (c.in_pos > 0) {
    c.in.erase(0, c.in_pos);
    c.in_end -= c.in_pos;
    c.in_pos = 0;
  }
  std::size_t want = c.last_read_full || c.in_end > 0 ? busy_read : idle_read;
  c.in.resize(c.in_end + want);
  return asio::buffer(c.in.data() + c.in_end, want);
}

bool tls_stream::has_buffered_input() const {
  return core_->in_pos < core_->in_end || SSL_has_pending(core_->ssl) == 1;
}

bool tls_stream::read_idle() {
  core& c = *core_;
  if (c.in_pos != c.in_end || c.last_read_full) return false;
  // An idle read held a 512-byte buffer per connection (heaptrack, issue 6); waiting for
  // readability first holds none.
  drop_read_buffer();
  return true;
}

void tls_stream::drop_read_buffer() {
  core& c = *core_;
  if (c.in_pos != c.in_end) return;
  c.in_pos = c.in_end = 0;
  std::string().swap(c.in);
}

boost::system::error_code tls_stream::read_ready() {
  auto b = prepare_read();
  boost::system::error_code ec;
  std::size_t n = socket_.read_some(b, ec);  // the socket is non-blocking (constructor)
  commit_read(n, b.size());
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  return ec;
}

void tls_stream::commit_read(std::size_t n, std::size_t asked) {
  core& c = *core_;
  c.in_end += n;
  c.in.resize(c.in_end);
  c.last_read_full = n == asked;
}

void tls_stream::flush_nonblocking() {
  core& c = *core_;
  if (c.writing || c.out.empty()) return;
  boost::system::error_code ec;
  std::size_t n = socket_.write_some(asio::buffer(c.out), ec);
  if (!ec) c.out.erase(0, n);
  // On would_block (or an error the next read or write reports) the rest waits in `out`.
}

void tls_stream::move_out_to_sending() {
  core& c = *core_;
  c.sending.swap(c.out);
  c.writing = true;
}

void tls_stream::release_sending() {
  core& c = *core_;
  c.writing = false;
  // Nothing more to send: give the memory back (a connection mostly idles). Otherwise keep a
  // small buffer for the next round.
  if (c.out.empty() || c.sending.capacity() > kept_capacity)
    std::string().swap(c.sending);
  else
    c.sending.clear();
}

}  // namespace hub::transport
