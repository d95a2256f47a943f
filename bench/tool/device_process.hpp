#pragma once
// A device set in its own process (`methodhub-bench devices`), so that the hub's devices and
// mosquitto's can stay connected side by side: 2 x 10 000 connections would not fit under one
// process's descriptor cap (20 000 here). The suite then alternates short slices of the hub, of
// mosquitto and of the ceiling within each run (suite.cpp), and the machine's drift of minutes no
// longer falls between the hub's run and its peer's.
//
// The parent writes the devices' ids (and SAS tokens) to a file, spawns the child and waits for
// its connect report; stop() ends it with SIGTERM and reads its final counts. The child connects
// with connect_devices() at the given ramp, writes "<status>.connect" (by rename), answers until
// SIGTERM, then writes "<status>.final" and exits at once (its sockets close with it).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "device_sim.hpp"

namespace hub::bench {

class device_process {
 public:
  struct settings {
    peer_kind kind = peer_kind::hub;
    std::uint16_t port = 0;
    std::size_t count = 0;  // devices [0, count) of ids
    double ramp = 2000;     // connects per second
    double timeout_s = 60;  // for the whole ramp
    std::size_t sources = 4;
    int threads = 2;
  };

  device_process() = default;
  device_process(const device_process&) = delete;
  device_process& operator=(const device_process&) = delete;
  ~device_process() {
    try {
      stop();
    } catch (...) {  // the process-wide cleanup kills it anyway (process.hpp)
    }
  }

  /// Spawns `self devices ...` (files and log under `work`, named after `name`) and waits for its
  /// connect report. Throws if the child dies or reports nothing within timeout_s + 30 s.
  connect_report start(const std::string& self, const fs::path& work, const std::string& name,
                       const settings& s, const std::vector<std::string>& ids,
                       const std::vector<std::string>* tokens);

  /// Ends the child (if running); returns how many devices dropped after connecting, with their
  /// reasons in `failures` (empty when none, or when the child left no final report).
  std::size_t stop(std::string* failures = nullptr);

  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  fs::path status_;
};

/// The child's side: `methodhub-bench devices --kind hub|mosquitto --port P --ids-file F
/// --count N --ramp R --timeout S --sources K --threads T --status-file P`.
int devices_main(const device_process::settings& s, const fs::path& ids_file,
                 const fs::path& status_file);

}  // namespace hub::bench
