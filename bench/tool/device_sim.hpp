#pragma once
// Device simulator: a device_set of MQTT devices (hub: real SAS credentials on
// $iothub/methods/POST/#; mosquitto: req/<id>) that answer every request with its own payload.
// connect_devices() starts devices [from, to) at a rate and waits for them; disconnect_devices()
// closes them all (throws if they do not close within 30 s).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.hpp"
#include "connection.hpp"

namespace hub::bench {

enum class peer_kind { hub, mosquitto };

struct device_set {
  peer_kind kind = peer_kind::hub;
  bool tls = false;
  std::uint16_t port = 0;
  std::size_t sources = 4;
  ssl::context* tls_ctx = nullptr;
  const std::vector<std::string>* ids = nullptr;
  const std::vector<std::string>* tokens = nullptr;  // hub only
  std::string host = "localhost";
  std::vector<std::shared_ptr<slot>> slots;
  std::atomic<std::size_t> ready{0}, failed{0}, dropped{0}, alive{0};
  std::atomic<std::uint64_t> answered{0};
  std::mutex m;
  std::map<std::string, std::size_t> failures;
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> l(m);
    ++failures[why];
  }
};

struct connect_report {
  std::size_t target = 0, connected = 0, failed = 0;
  double seconds = 0;
  std::string failures;
};

connect_report connect_devices(asio::io_context& ioc, device_set& ds, std::size_t from,
                               std::size_t to, double rate, double timeout_s);
void disconnect_devices(device_set& ds);

}  // namespace hub::bench
