#pragma once
// The server TLS context shared by every TLS listener (HTTPS, MQTTS, AMQPS).

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>

namespace hub::transport {

/// TLS 1.2 and 1.3 only, forward-secret AEAD suites only, no compression or renegotiation
/// (Python's device SDK pins TLS 1.2: spec/protocol.md §3.1). Throws std::runtime_error naming
/// the file when the chain or key cannot be loaded or do not match.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(
    const std::filesystem::path& chain_pem, const std::filesystem::path& key_pem);

}  // namespace hub::transport
