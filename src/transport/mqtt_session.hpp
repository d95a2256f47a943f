#pragma once
// The MQTT 3.1.1 device head (spec/protocol.md §3): one session per connection, over TLS (the
// MQTTS port) or plain TCP (the opt-in port). A session authenticates CONNECT against the
// registry, becomes the identity's device link, and carries method requests and answers.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "core/auth.hpp"
#include "core/presence.hpp"
#include "core/registry.hpp"
#include "transport/connection_gate.hpp"
#include "transport/mqtt_session_store.hpp"

namespace hub::transport {

struct mqtt_limits {
  std::size_t max_packet_bytes = 256 * 1024;       // IoT Hub's MQTT message limit (§3.9)
  std::chrono::seconds connect_deadline{30};       // from accept to a valid CONNECT (§3.2)
  std::chrono::seconds handshake_timeout{10};      // TLS
  std::chrono::seconds max_keep_alive{1767};       // IoT Hub's server-side cap (§3.2)
  std::size_t max_subscriptions = 16;              // distinct filters per session
  std::size_t max_queued_bytes = 4 * 1024 * 1024;  // unsent data before a slow reader is dropped
};

struct mqtt_services {
  hub::registry& registry;
  hub::presence& presence;
  const hub::policy_set& policies;
  mqtt_session_store sessions;  // core strand only
};

/// PUBLISHes received on devices' telemetry topics since start (acknowledged and discarded).
std::uint64_t mqtt_telemetry_messages() noexcept;

/// Serves one MQTT connection on `socket` (which must be on its own strand) until it closes.
void start_mqtt_session(boost::asio::ip::tcp::socket socket,
                        std::shared_ptr<boost::asio::ssl::context> tls, mqtt_services& svc,
                        const mqtt_limits& limits, connection_ticket ticket = {});

class memory_stream;

/// Runs one MQTT session over an in-memory stream until it closes: the code a socket gets, for
/// fuzz targets and tests. Call on the stream's executor.
boost::asio::awaitable<void> run_mqtt_session(memory_stream stream, mqtt_services& svc,
                                              const mqtt_limits& limits);

}  // namespace hub::transport
