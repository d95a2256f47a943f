#include "stats.hpp"

#include <algorithm>
#include <cstdio>

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
  std::vector<double> rate, p50, p90, p99, p999, mx, sc, bc, oc;
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

}  // namespace hub::bench
