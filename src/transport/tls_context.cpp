#include "transport/tls_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace hub::transport {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_server_tls_context(const std::filesystem::path& chain_pem,
                                                      const std::filesystem::path& key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::no_compression | ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: ECDHE with AEAD only. TLS 1.3 suites are all modern; OpenSSL's defaults stand.
  if (SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1)
    throw std::runtime_error("cannot set the TLS 1.2 cipher list");
  // Idle connections keep no read/write buffers (IoT devices idle most of the time).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // No server-side session cache: it would keep every connection's session in memory for its
  // lifetime; resumption still works through stateless session tickets.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(chain_pem.string(), ec);
  if (ec)
    throw std::runtime_error("cannot load TLS certificate chain " + chain_pem.string() + ": " +
                             ec.message());
  ctx->use_private_key_file(key_pem.string(), ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("cannot load TLS private key " + key_pem.string() + ": " +
                             ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    throw std::runtime_error("TLS private key " + key_pem.string() +
                             " does not match certificate " + chain_pem.string());
  return ctx;
}

}  // namespace hub::transport
