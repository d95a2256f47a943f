#include "footprint.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "device_sim.hpp"
#include "process.hpp"
#include "servers.hpp"

namespace hub::bench {

std::size_t descriptor_cap() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<std::size_t>(lim.rlim_max);
}

std::vector<footprint_row> run_footprint(asio::io_context& ioc, const options& o,
                                         const fs::path& data, const std::vector<std::string>& ids,
                                         const std::vector<std::string>& tokens,
                                         ssl::context& tls_ctx, std::size_t cap_devices) {
  std::vector<footprint_row> rows;
  std::vector<bool> modes{false};
  if (o.footprint_tls) modes.push_back(true);
  for (bool tls : modes) {
    auto hub = start_hub(
        o, data, data.parent_path() / (tls ? "hub-footprint-tls.log" : "hub-footprint.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    long idle = rss_kb(hub.pid);
    long pages0 = sockstat_tcp_mem_pages();
    long slab0 = meminfo_kb("Slab:");
    device_set ds;
    ds.kind = peer_kind::hub;
    ds.tls = tls;
    ds.port = tls ? hub.mqtts : hub.mqtt;
    ds.sources = o.sources;
    ds.tls_ctx = &tls_ctx;
    ds.ids = &ids;
    ds.tokens = &tokens;
    std::size_t done = 0;
    double total_s = 0;
    std::vector<std::size_t> targets;
    for (auto n : o.footprint) targets.push_back(n == 0 ? cap_devices : std::min(n, cap_devices));
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    for (auto target : targets) {
      if (target <= done) continue;
      double rate = tls ? o.tls_ramp : o.ramp;
      auto rep = connect_devices(ioc, ds, done, target, rate,
                                 60.0 + static_cast<double>(target - done) / rate * 3);
      total_s += rep.seconds;
      done = target;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // let the hub settle
      footprint_row r;
      r.transport = tls ? "TLS" : "plain";
      r.target = target;
      r.connected = ds.ready;
      r.failed = ds.failed;
      r.seconds = total_s;
      r.rss_idle_kb = idle;
      r.rss_kb = rss_kb(hub.pid);
      r.sock_pages_before = pages0;
      r.sock_pages = sockstat_tcp_mem_pages();
      r.slab_before_kb = slab0;
      r.slab_kb = meminfo_kb("Slab:");
      r.failures = rep.failures;
      std::printf(
          "  footprint %-5s %6zu devices: %6zu connected, %zu failed, %.1f s, hub RSS %ld -> %ld "
          "KB (%.2f KB/device), TCP mem %ld -> %ld pages, kernel slab %+ld KB%s%s\n",
          r.transport.c_str(), target, r.connected, r.failed, r.seconds, idle, r.rss_kb,
          r.connected ? static_cast<double>(r.rss_kb - idle) / static_cast<double>(r.connected)
                      : 0.0,
          pages0, r.sock_pages, r.slab_kb - slab0,
          r.failures.empty() ? "" : "; failures: ", r.failures.c_str());
      std::fflush(stdout);
      rows.push_back(r);
      if (!child_alive(hub.pid)) throw std::runtime_error("the hub died during the footprint run");
    }
    disconnect_devices(ds);
    stop_child(hub.pid);
  }
  return rows;
}

}  // namespace hub::bench
