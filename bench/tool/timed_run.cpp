#include "timed_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "process.hpp"

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// Timed request/response runs: C workers, measured over a window that opens once all are set up.

namespace {

// A coroutine, not a lambda: its arguments live in its frame (a lambda's captures would not).
awaitable<void> run_worker(const worker_fn& fn, worker_state& w) {
  try {
    co_await fn(w);
  } catch (const std::exception& e) {
    if (!w.sl->closing) ++w.errors["connection: " + reason_of(e)];
  }
  w.ready();  // a worker that failed or ended early must not hold the window shut
}

// How long the window waits for the slowest worker's set-up before it opens anyway.
constexpr auto set_up_limit = std::chrono::seconds(60);

}  // namespace

void run_result::absorb(const run_result& r) {
  const double total = seconds + r.seconds;
  if (total > 0) {
    auto weigh = [&](double& mine, double theirs) {
      mine = (mine * seconds + theirs * r.seconds) / total;
    };
    weigh(server_cpu, r.server_cpu);
    weigh(server_kernel_cpu, r.server_kernel_cpu);
    weigh(bench_cpu, r.bench_cpu);
    weigh(bench_kernel_cpu, r.bench_kernel_cpu);
    weigh(other_cpu, r.other_cpu);
  }
  seconds = total;
  ok += r.ok;
  h.merge(r.h);
  for (const auto& [k, v] : r.errors) errors[k] += v;
  cut += r.cut;
}

run_result timed_run(asio::io_context& ioc, int concurrency, double duration_s, pid_t server,
                     const worker_fn& fn, pid_t helper) {
  auto bench_times = [helper] {
    auto t = cpu_times_of(::getpid());
    if (helper > 0) {
      auto h = cpu_times_of(helper);
      t.user += h.user;
      t.kernel += h.kernel;
    }
    return t;
  };
  run_window window;
  std::atomic<int> set_up{0};
  std::vector<worker_state> ws(static_cast<std::size_t>(concurrency));
  std::vector<std::shared_ptr<slot>> slots;
  for (auto& w : ws) {
    w.window = &window;
    w.set_up = &set_up;
    w.sl = std::make_shared<slot>(ioc);
    slots.push_back(w.sl);
  }
  std::vector<std::future<void>> fs;
  for (auto& w : ws)
    fs.push_back(asio::co_spawn(w.sl->strand, run_worker(fn, w), asio::use_future));
  // The io_context's threads run the workers; this one only watches the count, with a limit.
  for (auto limit = clk::now() + set_up_limit;
       set_up.load(std::memory_order_acquire) < concurrency && clk::now() < limit;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto s0 = cpu_times_of(server), b0 = bench_times();
  const double m0 = machine_busy_seconds();
  auto t0 = clk::now();
  auto deadline =
      t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(duration_s));
  window.closes.store(deadline.time_since_epoch().count(), std::memory_order_release);
  window.opens.store(t0.time_since_epoch().count(), std::memory_order_release);
  auto grace = deadline + std::chrono::seconds(10);
  bool cut = false;
  for (auto& f : fs)
    if (f.wait_until(grace) != std::future_status::ready) {
      cut = true;
      break;
    }
  if (cut) {
    close_slots(slots);
    for (auto& f : fs)
      if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
        throw std::runtime_error("workers did not stop after being cut off");
  }
  auto t1 = clk::now();
  run_result r;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  const auto s1 = cpu_times_of(server), b1 = bench_times();
  r.server_cpu = 100.0 * (s1.total() - s0.total()) / r.seconds;
  r.server_kernel_cpu = 100.0 * (s1.kernel - s0.kernel) / r.seconds;
  r.bench_cpu = 100.0 * (b1.total() - b0.total()) / r.seconds;
  r.bench_kernel_cpu = 100.0 * (b1.kernel - b0.kernel) / r.seconds;
  r.other_cpu =
      std::max(0.0, 100.0 * (machine_busy_seconds() - m0) / r.seconds - r.server_cpu - r.bench_cpu);
  for (auto& w : ws) {
    r.ok += w.ok;
    r.h.merge(w.h);
    for (const auto& [k, v] : w.errors) r.errors[k] += v;
    if (w.in_flight) ++r.cut;
  }
  return r;
}

}  // namespace hub::bench
