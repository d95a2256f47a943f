#pragma once
// A scenario's runs and their summary: medians over the runs of the rate, the percentiles and the
// CPU use, errors summed; print_run() prints one run's line as it finishes.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "timed_run.hpp"

namespace hub::bench {

struct scenario_stats {
  std::string name;
  int concurrency = 0;
  std::vector<run_result> runs;
};

struct summary {
  double rate = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, server_cpu = 0, bench_cpu = 0,
         other_cpu = 0;
  // CPU per round trip in µs, user space and kernel, of the server and of the bench (generator).
  double server_user_us = 0, server_kernel_us = 0, bench_user_us = 0, bench_kernel_us = 0;
  double server_us() const { return server_user_us + server_kernel_us; }
  double bench_us() const { return bench_user_us + bench_kernel_us; }
  std::uint64_t errors = 0, ok = 0;
  std::map<std::string, std::uint64_t> error_kinds;
};

summary summarize(const scenario_stats& s);
void print_run(const std::string& name, int c, int i, const run_result& r);

/// The table of CPU per round trip (medians) of the scenarios that have a peer, and at each C
/// the most CPU per call the hub could spend and still reach `target` × mosquitto's round
/// trips/s, given that the hub and the generator share this machine's cores and the hub runs
/// `hub_threads` threads (0: one per core) (issue 6).
void print_cpu_per_round_trip(const std::vector<scenario_stats>& scenarios, double target,
                              int hub_threads);

}  // namespace hub::bench
