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
  std::uint64_t errors = 0, ok = 0;
  std::map<std::string, std::uint64_t> error_kinds;
};

summary summarize(const scenario_stats& s);
void print_run(const std::string& name, int c, int i, const run_result& r);

}  // namespace hub::bench
