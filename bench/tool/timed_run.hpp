#pragma once
// Timed request/response runs: timed_run() runs C workers (each a worker_fn on its own slot)
// until the deadline, cuts off any still running 10 s after it, and sums their histograms, counts
// and errors with the CPU use of the server, of the bench and of the rest of the machine.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common.hpp"
#include "connection.hpp"
#include "histogram.hpp"

namespace hub::bench {

struct worker_state {
  std::shared_ptr<slot> sl;
  histogram h;
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t ok = 0;
  bool in_flight = false;
};

struct run_result {
  double seconds = 0;
  std::uint64_t ok = 0;
  histogram h;
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t cut = 0;                 // requests still unanswered when the run was cut off
  double server_cpu = 0, bench_cpu = 0;  // percent of one core
  double other_cpu = 0;                  // everything else on the machine, percent of one core
  double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  std::uint64_t error_count() const {
    std::uint64_t n = cut;
    for (const auto& [k, v] : errors) n += v;
    return n;
  }
};

using worker_fn = std::function<awaitable<void>(worker_state&, clk::time_point deadline)>;

run_result timed_run(asio::io_context& ioc, int concurrency, double duration_s, pid_t server,
                     const worker_fn& fn);

}  // namespace hub::bench
