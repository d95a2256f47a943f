#pragma once
// Everything `methodhub serve` can be told. Sources, lowest to highest precedence: built-in
// defaults, a TOML file (`--config`), METHODHUB_* environment variables, command-line flags.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace hub::cli {

struct serve_config {
  std::filesystem::path data_dir = "methodhub-data";
  std::string hostname = "methodhub.localdomain";  // `localhost` is always accepted too
  // Ports: a value of 0 asks the OS for a free port (the bound ports are written to
  // <data-dir>/listening.json); an unset optional port is off.
  std::uint16_t https_port = 443;
  std::uint16_t mqtt_port = 8883;
  std::uint16_t amqp_port = 5671;
  std::optional<std::uint16_t> mqtt_tcp_port;  // plain MQTT, opt-in (local tools, benchmarks)
  std::optional<std::uint16_t> amqp_tcp_port;  // plain AMQP, opt-in
  std::optional<std::uint16_t> http_port;      // plain HTTP REST, opt-in
  std::string bind_address = "0.0.0.0";
  std::filesystem::path tls_cert;  // bring your own (PEM chain); empty = generated in data dir
  std::filesystem::path tls_key;
  std::string log_format = "text";               // text | json
  std::string log_level = "info";                // trace | debug | info | warn | error
  unsigned threads = 0;                          // 0 = one per core
  unsigned max_inflight_per_device = 100;        // calls in flight to one device before 403800
  unsigned connect_deadline_seconds = 30;        // time from accept to a valid MQTT CONNECT
  unsigned amqp_idle_timeout_seconds = 240;      // AMQP silence that ends a connection; 0 = never
  std::size_t max_http_body_bytes = 256 * 1024;  // REST bodies (invoke payload limit is 128 KB)
  // Whether to print iothubowner's connection string to stdout at start: auto (only when stdout
  // is a terminal), always, never. It never goes through the logger (docs/security.md).
  std::string print_connection_string = "auto";
  // Limits (docs/limits.md): what each bounds and what a client over it sees.
  unsigned max_connections = 0;                    // every listener together; 0 = open files - 64
  unsigned max_connections_per_address = 10000;    // per source IP address; 0 = no cap
  unsigned tls_handshake_timeout_seconds = 10;     // from accept to a finished TLS handshake
  std::size_t max_http_header_bytes = 16 * 1024;   // request line + headers (over it: 400)
  unsigned http_read_timeout_seconds = 30;         // a request, from its first byte to its last
  unsigned http_idle_timeout_seconds = 120;        // a keep-alive connection between requests
  std::size_t max_mqtt_packet_bytes = 256 * 1024;  // one MQTT packet (IoT Hub's message limit)
  unsigned max_amqp_frame_bytes = 64 * 1024;       // the max-frame-size the hub announces
  unsigned max_subscriptions = 16;                 // MQTT topic filters per session
  unsigned max_inflight_per_hub = 10000;           // calls in flight hub-wide before 429002
  unsigned throttle_rate = 0;   // method calls per second per policy (429001); 0 = off
  unsigned throttle_burst = 0;  // a policy's bucket size; 0 = throttle_rate
};

}  // namespace hub::cli
