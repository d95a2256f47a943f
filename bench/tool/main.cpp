// methodhub-bench: the load generator and the harness of bench/run (issue 6, design.md
// "Benchmarks").
//
//   methodhub-bench suite --hub-bin PATH [options]  everything, in one run; a table of medians
//   methodhub-bench echo-server --port-file F       the ceiling's server (the suite forks it)
//   methodhub-bench devices --kind K --port P ...   a device set in its own process (the suite
//                                                   forks one for the hub, one for mosquitto)
//
// The suite starts (and always stops) its own processes: a hub in a temporary data directory,
// Debian's mosquitto on a free loopback port, the TCP echo server. It then measures
//   1. hub:       N simulated MQTT devices (real SAS credentials) answering `echo`; C HTTP/1.1
//                 keep-alive invokers POSTing /twins/{id}/methods to random devices;
//   2. mosquitto: the same simulator on per-device topics (req/<id>), C MQTT requesters publishing
//                 to a random device's topic with their reply topic in the payload and waiting for
//                 the echo on it (the MQTT request/response pattern);
//   3. ceiling:   C clients doing request/response against a trivial TCP echo server;
//   4. footprint: hub RSS and kernel TCP memory per connected idle device (plain and TLS).
// 1-3 run in rounds: each round runs every scenario once at every C, so that the machine's drift
// over the set falls on the hub and its peers alike; the tables give each column's median. Within
// a run, 1 and 2 and 3 alternate in slices of a few seconds (--slice), with the hub's and
// mosquitto's devices connected throughout, each set in its own process (`devices`).
// Latencies go into a log-linear histogram (every sample, <1% bucket error). All traffic stays on
// 127.0.0.0/8; every loop is bounded in count and time, and a watchdog alarm ends the process.
//
// Threads: one io_context, --threads threads; every connection lives on its own strand.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_process.hpp"
#include "echo_server.hpp"
#include "options.hpp"
#include "process.hpp"
#include "suite.hpp"

namespace hub::bench {

namespace {

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    v.push_back(item == "cap" ? 0 : static_cast<std::size_t>(std::stoul(item)));
  return v;
}

void usage() {
  std::puts(
      "usage: methodhub-bench suite --hub-bin PATH [--devices N] [--concurrency 64,512] "
      "[--duration S]\n"
      "         [--slice S] [--runs R] [--payload BYTES] [--ramp PER_S] [--tls-ramp PER_S] "
      "[--threads T] "
      "[--hub-threads T]\n"
      "         [--sources K] [--footprint 10000,cap] [--no-footprint-tls] [--skip-hub] "
      "[--skip-mosquitto] [--skip-offline]\n"
      "         [--tls (also hub-tls: devices over MQTTS at --tls-ramp, invokers over HTTPS)]\n"
      "         [--skip-ceiling] [--skip-footprint] [--mosquitto PATH] [--work DIR] [--keep] "
      "[--watchdog S]\n"
      "       methodhub-bench echo-server --port-file F [--threads T]\n"
      "       methodhub-bench devices --kind hub|mosquitto --port P --ids-file F --count N "
      "--status-file F\n"
      "         [--ramp PER_S] [--timeout S] [--sources K] [--threads T]");
}

}  // namespace
}  // namespace hub::bench

using namespace hub::bench;  // main() below is the original one, unchanged

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGALRM}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  std::atexit(kill_children_now);
  try {
    if (argc < 2) {
      usage();
      return 2;
    }
    std::string cmd = argv[1];
    std::map<std::string, std::string> kv;
    std::vector<std::string> flags;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument " + a);
      static const std::vector<std::string> bools{
          "--skip-hub",         "--skip-mosquitto", "--skip-ceiling", "--skip-footprint",
          "--no-footprint-tls", "--keep",           "--tls",          "--skip-offline"};
      if (std::find(bools.begin(), bools.end(), a) != bools.end()) {
        flags.push_back(a);
        continue;
      }
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      kv[a] = argv[++i];
    }
    if (cmd == "echo-server") {
      ::alarm(4 * 3600);
      return echo_server_main(kv.at("--port-file"),
                              kv.count("--threads") ? std::stoi(kv["--threads"]) : 2);
    }
    if (cmd == "devices") {
      device_process::settings s;
      const auto& kind = kv.at("--kind");
      if (kind != "hub" && kind != "mosquitto") throw std::runtime_error("--kind hub|mosquitto");
      s.kind = kind == "hub" ? peer_kind::hub : peer_kind::mosquitto;
      s.port = static_cast<std::uint16_t>(std::stoul(kv.at("--port")));
      s.count = std::stoul(kv.at("--count"));
      if (kv.count("--ramp")) s.ramp = std::stod(kv["--ramp"]);
      if (kv.count("--timeout")) s.timeout_s = std::stod(kv["--timeout"]);
      if (kv.count("--sources")) s.sources = std::stoul(kv["--sources"]);
      if (kv.count("--threads")) s.threads = std::stoi(kv["--threads"]);
      if (s.ramp <= 0 || s.threads < 1 || s.sources < 1)
        throw std::runtime_error("bad option value (ramp > 0, threads >= 1, sources >= 1)");
      return devices_main(s, kv.at("--ids-file"), kv.at("--status-file"));
    }
    if (cmd != "suite") {
      usage();
      return 2;
    }
    options o;
    o.self = fs::canonical("/proc/self/exe").string();
    for (const auto& [k, v] : kv) {
      if (k == "--hub-bin")
        o.hub_bin = v;
      else if (k == "--mosquitto")
        o.mosquitto_bin = v;
      else if (k == "--devices")
        o.devices = std::stoul(v);
      else if (k == "--concurrency") {
        o.concurrency.clear();
        for (auto c : parse_list(v)) o.concurrency.push_back(static_cast<int>(c));
      } else if (k == "--duration")
        o.duration = std::stod(v);
      else if (k == "--slice")
        o.slice = std::stod(v);
      else if (k == "--runs")
        o.runs = std::stoi(v);
      else if (k == "--payload")
        o.payload = std::stoul(v);
      else if (k == "--ramp")
        o.ramp = std::stod(v);
      else if (k == "--tls-ramp")
        o.tls_ramp = std::stod(v);
      else if (k == "--threads")
        o.threads = std::stoi(v);
      else if (k == "--hub-threads")
        o.hub_threads = std::stoi(v);
      else if (k == "--sources")
        o.sources = std::stoul(v);
      else if (k == "--footprint")
        o.footprint = parse_list(v);
      else if (k == "--work")
        o.work = v;
      else if (k == "--watchdog")
        o.watchdog = std::stoi(v);
      else
        throw std::runtime_error("unknown option " + k);
    }
    for (const auto& f : flags) {
      if (f == "--skip-hub") o.skip_hub = true;
      if (f == "--skip-mosquitto") o.skip_mosquitto = true;
      if (f == "--skip-ceiling") o.skip_ceiling = true;
      if (f == "--skip-footprint") o.skip_footprint = true;
      if (f == "--skip-offline") o.skip_offline = true;
      if (f == "--no-footprint-tls") o.footprint_tls = false;
      if (f == "--keep") o.keep = true;
      if (f == "--tls") o.tls_throughput = true;
    }
    if (o.devices == 0 || o.runs < 1 || o.duration <= 0 || o.slice <= 0 || o.threads < 1 ||
        o.ramp <= 0 || o.tls_ramp <= 0 || o.payload < 32)
      throw std::runtime_error(
          "bad option value (devices >= 1, runs >= 1, duration > 0, slice > 0, threads >= 1, "
          "payload >= 32)");
    int rc = suite_main(o);
    kill_children_now();
    return rc;
  } catch (const std::exception& e) {
    kill_children_now();
    std::fprintf(stderr, "methodhub-bench: %s\n", e.what());
    return 1;
  }
}
