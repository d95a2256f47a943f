#pragma once
// The workers of timed_run(): the hub invoker (HTTP/1.1 or HTTPS direct method calls), the
// mosquitto requester (MQTT request/response) and the TCP echo client (the ceiling). Each counts a
// round trip as ok only when the answer carries its own request's payload (the offline invoker: a
// 404 with 404103).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "timed_run.hpp"

namespace hub::bench {

worker_fn hub_invoker(std::uint16_t http_port, const std::string& auth,
                      const std::vector<std::string>& ids, std::size_t first, std::size_t devices,
                      std::size_t payload_bytes, bool offline = false, ssl::context* tls = nullptr);
worker_fn mqtt_requester(std::uint16_t port, const std::vector<std::string>& ids,
                         std::size_t devices, std::size_t payload_bytes);
worker_fn echo_client(std::uint16_t port, std::size_t payload_bytes);

}  // namespace hub::bench
