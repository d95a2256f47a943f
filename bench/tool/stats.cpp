#include "stats.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace hub::bench {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

summary summarize(const scenario_stats& s) {
  summary out;
  std::vector<double> rate, p50, p90, p99, p999, mx, sc, bc, oc, su, sk, bu, bk;
  // µs per round trip from a CPU share in percent of one core.
  auto per_call = [](double percent, double rate) { return rate > 0 ? percent * 1e4 / rate : 0; };
  for (const auto& r : s.runs) {
    rate.push_back(r.rate());
    p50.push_back(r.h.percentile(0.50) / 1e6);
    p90.push_back(r.h.percentile(0.90) / 1e6);
    p99.push_back(r.h.percentile(0.99) / 1e6);
    p999.push_back(r.h.percentile(0.999) / 1e6);
    mx.push_back(static_cast<double>(r.h.max()) / 1e6);
    sc.push_back(r.server_cpu);
    bc.push_back(r.bench_cpu);
    oc.push_back(r.other_cpu);
    su.push_back(per_call(r.server_cpu - r.server_kernel_cpu, r.rate()));
    sk.push_back(per_call(r.server_kernel_cpu, r.rate()));
    bu.push_back(per_call(r.bench_cpu - r.bench_kernel_cpu, r.rate()));
    bk.push_back(per_call(r.bench_kernel_cpu, r.rate()));
    out.errors += r.error_count();
    out.ok += r.ok;
    for (const auto& [k, v] : r.errors) out.error_kinds[k] += v;
    if (r.cut) out.error_kinds["unanswered when cut off"] += r.cut;
  }
  out.rate = median(rate);
  out.p50 = median(p50);
  out.p90 = median(p90);
  out.p99 = median(p99);
  out.p999 = median(p999);
  out.max = median(mx);
  out.server_cpu = median(sc);
  out.bench_cpu = median(bc);
  out.other_cpu = median(oc);
  out.server_user_us = median(su);
  out.server_kernel_us = median(sk);
  out.bench_user_us = median(bu);
  out.bench_kernel_us = median(bk);
  return out;
}

void print_run(const std::string& name, int c, int i, const run_result& r) {
  std::printf(
      "  %-10s C=%-4d run %d: %9.0f rt/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f  max %8.3f ms  errors "
      "%llu  server CPU %5.1f%%  bench CPU %5.1f%%  other CPU %5.1f%%\n",
      name.c_str(), c, i + 1, r.rate(), r.h.percentile(0.5) / 1e6, r.h.percentile(0.99) / 1e6,
      r.h.percentile(0.999) / 1e6, static_cast<double>(r.h.max()) / 1e6,
      static_cast<unsigned long long>(r.error_count()), r.server_cpu, r.bench_cpu, r.other_cpu);
  for (const auto& [k, v] : r.errors)
    std::printf("      %s: %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  std::fflush(stdout);
}

void print_cpu_per_round_trip(const std::vector<scenario_stats>& scenarios, double target,
                              int hub_threads) {
  auto find = [&](const char* name, int c) -> const scenario_stats* {
    for (const auto& s : scenarios)
      if (s.name == name && s.concurrency == c && !s.runs.empty()) return &s;
    return nullptr;
  };
  std::vector<int> cs;
  for (const auto& s : scenarios)
    if (s.name == "hub" && find("mosquitto", s.concurrency)) cs.push_back(s.concurrency);
  if (cs.empty()) return;
  std::printf(
      "\n## CPU per round trip (µs, medians; generator = the bench and its device process)\n\n"
      "| scenario | C | server user | server kernel | generator user | generator kernel | total "
      "|\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (int c : cs)
    for (const char* name : {"hub", "mosquitto"}) {
      auto m = summarize(*find(name, c));
      std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", name, c, m.server_user_us,
                  m.server_kernel_us, m.bench_user_us, m.bench_kernel_us,
                  m.server_us() + m.bench_us());
    }
  // Two limits hold in every run, whatever else slows it down: the server and the generator
  // together cannot use more than the machine's cores, and the hub no more than its threads. So
  // R calls/s need hub µs + generator µs <= cores / R and hub µs <= threads / R. Necessary
  // conditions for the target, not sufficient ones: they assume no core ever waits.
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  const double threads = hub_threads > 0 ? std::min<double>(hub_threads, cores) : cores;
  std::printf("\nFor %.1f × mosquitto's round trips/s on these %.0f cores (hub threads: %.0f):\n",
              target, cores, threads);
  for (int c : cs) {
    auto h = summarize(*find("hub", c));
    auto q = summarize(*find("mosquitto", c));
    if (q.rate <= 0) continue;
    const double rate = target * q.rate;
    const double total = cores * 1e6 / rate;
    const double budget = std::min(total - h.bench_us(), threads * 1e6 / rate);
    std::printf(
        "- C=%d: %.0f/s needs hub + generator <= %.1f µs per call; with the generator's %.1f µs "
        "(and the hub's threads), the hub <= %.1f µs (measured %.1f: user %.1f, kernel %.1f)\n",
        c, rate, total, h.bench_us(), budget, h.server_us(), h.server_user_us, h.server_kernel_us);
  }
}

}  // namespace hub::bench
