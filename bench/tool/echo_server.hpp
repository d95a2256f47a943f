#pragma once
// The echo server (ceiling), as its own process like the hub and mosquitto: listens on a free
// loopback port, writes the port to `port_file` (atomically, by rename), echoes every byte back
// until SIGINT or SIGTERM, on `threads` threads.

#include "common.hpp"

namespace hub::bench {

int echo_server_main(const fs::path& port_file, int threads);

}  // namespace hub::bench
