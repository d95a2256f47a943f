#pragma once
// Timed request/response runs: timed_run() starts C workers (each a worker_fn on its own slot),
// opens the measured window once every one has set up its connection, closes it `duration` later,
// cuts off any worker still running 10 s after that, and sums their histograms, counts and errors
// with the CPU use of the server, of the bench and of the rest of the machine over the window.
//
// Why a window rather than a start time: set-up is not what is measured. 512 HTTPS connections
// cost the hub ~0.4 s of TLS handshakes, and the calls of the workers that connected first
// waited behind them, which put 200-400 ms into hub-tls's p99.9 (docs/performance.md, session 7).

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "common.hpp"
#include "connection.hpp"
#include "histogram.hpp"

namespace hub::bench {

// When a run is measured. Written by timed_run(), read by the workers on any thread.
struct run_window {
  std::atomic<clk::rep> opens{std::numeric_limits<clk::rep>::max()};
  std::atomic<clk::rep> closes{std::numeric_limits<clk::rep>::max()};
  bool open_at(clk::time_point t) const {
    return t.time_since_epoch().count() >= opens.load(std::memory_order_acquire);
  }
  bool closed_at(clk::time_point t) const {
    return t.time_since_epoch().count() >= closes.load(std::memory_order_acquire);
  }
};

// A worker's share of a run. Its loop runs until window->closed_at(now); a round trip counts
// (histogram, ok) only when it started inside the window; errors count whenever they happen.
struct worker_state {
  const run_window* window = nullptr;
  std::atomic<int>* set_up = nullptr;  // workers past their set-up (or ended): opens the window
  bool said_set_up = false;
  // Once the connection is ready for round trips (or the worker has ended). Idempotent.
  void ready() {
    if (said_set_up) return;
    said_set_up = true;
    set_up->fetch_add(1, std::memory_order_release);
  }
  bool measured(clk::time_point started) const { return window->open_at(started); }
  bool running() const { return !window->closed_at(clk::now()); }

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
  // Of which in the kernel. On loopback a send also runs the receiver's TCP input, so each side's
  // kernel share includes work done for the other side's packets.
  double server_kernel_cpu = 0, bench_kernel_cpu = 0;
  double other_cpu = 0;  // everything else on the machine, percent of one core
  double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  std::uint64_t error_count() const {
    std::uint64_t n = cut;
    for (const auto& [k, v] : errors) n += v;
    return n;
  }
  /// Adds run `r` (another slice of the same scenario) to this one: counts and histograms sum,
  /// CPU shares are weighted by the slices' lengths.
  void absorb(const run_result& r);
};

using worker_fn = std::function<awaitable<void>(worker_state&)>;

/// `helper`, when not -1, is a process of the bench's own (the device set's, device_process.hpp):
/// its CPU counts as the bench's.
run_result timed_run(asio::io_context& ioc, int concurrency, double duration_s, pid_t server,
                     const worker_fn& fn, pid_t helper = -1);

}  // namespace hub::bench
