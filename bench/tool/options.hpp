#pragma once
// The suite's options, as main() parses them from the command line (see usage() in main.cpp).

#include <cstddef>
#include <string>
#include <vector>

namespace hub::bench {

struct options {
  std::string hub_bin;
  std::string mosquitto_bin = "/usr/sbin/mosquitto";
  std::string self;
  std::size_t devices = 10000;
  std::vector<int> concurrency{64, 512};
  double duration = 10;
  double slice = 2;  // a run's duration is measured in slices of about this, alternating with
                     // the other scenarios (suite.cpp)
  int runs = 3;
  std::size_t payload = 100;
  double ramp = 2000;
  double tls_ramp = 100;  // TLS handshakes cost the hub far more CPU (at 500/s on a loaded machine
                          // most timed out)
  int threads = 2;
  int hub_threads = 0;
  int server_threads = 2;  // echo server
  std::size_t sources = 4;
  std::vector<std::size_t> footprint{10000, 0};  // 0 = the descriptor cap
  bool footprint_tls = true;
  bool tls_throughput = false;  // also run hub-tls: devices over MQTTS, invokers over HTTPS
  bool skip_hub = false, skip_mosquitto = false, skip_ceiling = false, skip_footprint = false;
  bool skip_offline = false;  // bench/soak: only the connected-device scenario
  bool keep = false;
  int watchdog = 3600;
  std::string work;
};

}  // namespace hub::bench
