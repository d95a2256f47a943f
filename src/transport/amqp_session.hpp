#pragma once
// The AMQP 1.0 device head (spec/protocol.md §4): one connection per socket, over TLS (the AMQPS
// port) or plain TCP (the opt-in port). The security layer (none, or our own SASL offering
// MSSBCBS, ANONYMOUS and PLAIN) runs first; then Proton's connection_driver, fed from our own
// stream on the connection's strand, carries the $cbs node (put-token) and the method links.
// Each identity authorized on the connection (several may share one) becomes a device link.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/auth.hpp"
#include "core/presence.hpp"
#include "core/registry.hpp"
#include "transport/connection_gate.hpp"

namespace hub::transport {

struct amqp_limits {
  std::uint32_t max_frame_size = 64 * 1024;        // ours; bigger messages arrive in several frames
  std::uint16_t max_sessions = 16;                 // per connection (channel-max + 1)
  std::size_t max_links = 64;                      // attached links per connection
  std::size_t max_identities = 32;                 // live CBS tokens per connection
  std::size_t max_waiting_requests = 64;           // per identity, while its receiver has no credit
  std::size_t max_message_bytes = 512 * 1024;      // unfinished message bytes buffered per session
  std::size_t max_queued_bytes = 4 * 1024 * 1024;  // unsent data before a slow reader is dropped
  std::chrono::seconds auth_deadline{30};          // from accept to the Open and a valid token
  // A peer silent this long is gone (half-open): the connection closes. Our Open advertises half
  // of it (Proton's rule, AMQP 1.0 §2.4.5), so a conforming peer sends a frame at least that often.
  // The peer's own idle-time-out is honoured by sending empty frames. Zero: no timeout.
  std::chrono::milliseconds idle_timeout{240'000};
  std::chrono::seconds handshake_timeout{10};  // TLS
};

struct amqp_services {
  hub::registry& registry;
  hub::presence& presence;
  const hub::policy_set& policies;
};

/// Serves one AMQP connection on `socket` (which must be on its own strand) until it closes.
/// `tls` null: plain TCP.
void start_amqp_session(boost::asio::ip::tcp::socket socket,
                        std::shared_ptr<boost::asio::ssl::context> tls, amqp_services& svc,
                        const amqp_limits& limits, connection_ticket ticket = {});

class memory_stream;

/// Runs one AMQP connection over an in-memory stream until it closes: the code a socket gets,
/// security layer included, for fuzz targets and tests. Call on the stream's executor.
boost::asio::awaitable<void> run_amqp_session(memory_stream stream, amqp_services& svc,
                                              const amqp_limits& limits);

}  // namespace hub::transport
