#pragma once
// Starting the servers under test: start_hub() runs the hub on port 0 everywhere and reads the
// ports it chose from listening.json (throws with the tail of its log if it exits or takes more
// than 60 s); free_port() picks a loopback port for mosquitto; wait_port() waits (20 s at most)
// until a child listens.

#include <sys/types.h>

#include <cstdint>

#include "common.hpp"
#include "options.hpp"

namespace hub::bench {

struct hub_process {
  pid_t pid = -1;
  std::uint16_t http = 0, https = 0, mqtt = 0, mqtts = 0;
};

hub_process start_hub(const options& o, const fs::path& data, const fs::path& log);
std::uint16_t free_port();
void wait_port(std::uint16_t port, pid_t pid, const fs::path& log);

}  // namespace hub::bench
