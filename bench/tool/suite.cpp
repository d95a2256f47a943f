#include "suite.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "codec/sas/sas_token.hpp"
#include "common.hpp"
#include "device_process.hpp"
#include "device_sim.hpp"
#include "echo_server.hpp"
#include "footprint.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "servers.hpp"
#include "stats.hpp"
#include "timed_run.hpp"
#include "workers.hpp"

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// The suite.

namespace {

std::vector<std::string> device_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  char buf[32];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "bench-dev-%06zu", i);
    ids.emplace_back(buf);
  }
  return ids;
}

}  // namespace

int suite_main(options o) {
  if (o.hub_bin.empty()) throw std::runtime_error("--hub-bin is required");
  o.hub_bin = fs::absolute(o.hub_bin).string();
  ::alarm(static_cast<unsigned>(o.watchdog));

  // Raise our descriptor limit (the hub does the same for itself).
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  std::size_t cap = descriptor_cap();
  // At the cap the hub runs out first: it also holds listeners, its database and the REST socket.
  std::size_t cap_devices = cap > 200 ? cap - 100 : cap / 2;

  fs::path work;
  if (o.work.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "methodhub-bench.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    work = tmpl;
  } else {
    work = o.work;
    fs::create_directories(work);
  }
  fs::path data = work / "hub-data";
  struct work_cleanup {
    fs::path dir;
    bool keep;
    ~work_cleanup() {
      kill_children_now();  // before removing their files; stop_child already reaped the normal
                            // ones
      if (keep) return;
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{work, o.keep};

  std::size_t max_devices = o.devices + 100;  // the last ones stay offline
  if (!o.skip_footprint)
    for (auto n : o.footprint) max_devices = std::max(max_devices, n == 0 ? cap_devices : n);
  auto ids = device_ids(max_devices);

  asio::io_context ioc(o.threads);
  auto guard = asio::make_work_guard(ioc);
  std::vector<std::thread> pool;
  for (int i = 0; i < o.threads; ++i) pool.emplace_back([&] { ioc.run(); });
  struct pool_stop {
    asio::io_context& ioc;
    std::vector<std::thread>& pool;
    ~pool_stop() {
      ioc.stop();
      for (auto& t : pool) t.join();
    }
  } stopper{ioc, pool};

  ssl::context tls_ctx(ssl::context::tls_client);
  tls_ctx.set_verify_mode(ssl::verify_none);

  char hostbuf[256] = {};
  ::gethostname(hostbuf, sizeof hostbuf - 1);
  std::printf("methodhub-bench: devices %zu, concurrency", o.devices);
  for (int c : o.concurrency) std::printf(" %d", c);
  std::printf(
      ", payload %zu B, %.0f s x %d runs, bench threads %d, hub threads %s, descriptor cap %zu; "
      "work dir %s\n",
      o.payload, o.duration, o.runs, o.threads,
      o.hub_threads ? std::to_string(o.hub_threads).c_str() : "auto", cap, work.c_str());
  std::fflush(stdout);

  std::printf("  load average at start: %s", read_file("/proc/loadavg").c_str());
  // One entry per (scenario, C), in the order they first ran; each round adds one run to each.
  std::vector<scenario_stats> scenarios;
  auto stats_of = [&](const std::string& name, int c) -> scenario_stats& {
    for (auto& st : scenarios)
      if (st.name == name && st.concurrency == c) return st;
    scenarios.push_back({});
    scenarios.back().name = name;
    scenarios.back().concurrency = c;
    return scenarios.back();
  };
  auto run_scenario = [&](const std::string& name, pid_t server,
                          const std::function<worker_fn(void)>& make, int round,
                          std::vector<int> concurrency = {}) {
    if (concurrency.empty()) concurrency = o.concurrency;
    for (int c : concurrency) {
      auto& st = stats_of(name, c);
      st.runs.push_back(timed_run(ioc, c, o.duration, server, make()));
      print_run(name, c, round, st.runs.back());
      if (!child_alive(server)) throw std::runtime_error(name + ": the server process died");
    }
  };
  auto connect_line = [](const char* who, const connect_report& r) {
    std::printf("  %s: %zu/%zu devices connected in %.2f s (%zu failed)%s%s\n", who, r.connected,
                r.target, r.seconds, r.failed, r.failures.empty() ? "" : ": ", r.failures.c_str());
    std::fflush(stdout);
  };
  const double connect_deadline = 60.0 + static_cast<double>(o.devices) / o.ramp * 3;

  // ---- the servers, all started before the first run and kept to the end (idle when not
  // measured); children are stopped on every exit path (work_cleanup).
  // The hub: register every device once (the footprint hubs reuse the data dir).
  connect_report hub_connect, mosq_connect;
  double reg_s = 0;
  std::vector<std::string> tokens(ids.size());
  std::vector<footprint_row> foot;
  long hub_rss_empty = 0, hub_rss_after = 0;
  auto hub = start_hub(o, data, work / "hub.log");
  hub_rss_empty = rss_kb(hub.pid);
  std::string auth;
  {
    auto policies = read_file(data / "policies.json");
    auto at = policies.find("\"iothubowner\"");
    std::string owner_key =
        at == std::string::npos ? "" : json_string_after(policies, "primaryKey", at);
    if (owner_key.empty()) throw std::runtime_error("no iothubowner key in policies.json");
    std::int64_t expiry = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() +
                          86400;
    auth = hub::codec::sas::make_token("localhost", owner_key, expiry, "iothubowner");
    std::vector<std::string> keys(ids.size());
    reg_s = register_devices(ioc, hub.http, auth, ids, keys, 16);
    for (std::size_t i = 0; i < ids.size(); ++i)
      tokens[i] = hub::codec::sas::make_token("localhost/devices/" + ids[i], keys[i], expiry);
    std::printf("  registered %zu devices in %.1f s (%.0f/s)\n", ids.size(), reg_s,
                static_cast<double>(ids.size()) / reg_s);
    std::fflush(stdout);
  }

  // mosquitto: the same devices on per-device topics.
  pid_t mq = -1;
  std::uint16_t mq_port = 0;
  if (!o.skip_mosquitto) {
    mq_port = free_port();
    fs::path conf = work / "mosquitto.conf";
    {
      std::ofstream c(conf);
      c << "listener " << mq_port
        << " 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\n"
        << "set_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\n";
    }
    mq = spawn({o.mosquitto_bin, "-c", conf.string()}, work / "mosquitto.log");
    wait_port(mq_port, mq, work / "mosquitto.log");
  }

  // The ceiling: TCP echo, its own process.
  pid_t es = -1;
  std::uint16_t es_port = 0;
  if (!o.skip_ceiling) {
    fs::path pf = work / "echo.port";
    es = spawn({o.self, "echo-server", "--port-file", pf.string(), "--threads",
                std::to_string(o.server_threads)},
               work / "echo.log");
    auto until = clk::now() + std::chrono::seconds(20);
    while (!fs::exists(pf) && clk::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!fs::exists(pf)) throw std::runtime_error("echo server did not start");
    es_port = static_cast<std::uint16_t>(std::atoi(read_file(pf).c_str()));
  }

  // ---- the device sets, each in its own process (device_process.hpp) and connected for all the
  // rounds: the hub's and mosquitto's side by side would not fit under one process's descriptor
  // cap. Their CPU counts as the bench's.
  device_process hub_devs, mq_devs;
  device_process::settings dev_settings;
  dev_settings.count = o.devices;
  dev_settings.ramp = o.ramp;
  dev_settings.timeout_s = connect_deadline;
  dev_settings.sources = o.sources;
  dev_settings.threads = o.threads;
  if (!o.skip_hub) {
    auto s = dev_settings;
    s.kind = peer_kind::hub;
    s.port = hub.mqtt;
    hub_connect = hub_devs.start(o.self, work, "hub", s, ids, &tokens);
    connect_line("hub", hub_connect);
    if (hub_connect.connected == 0) throw std::runtime_error("no device could connect to the hub");
  }
  if (mq > 0) {
    auto s = dev_settings;
    s.kind = peer_kind::mosquitto;
    s.port = mq_port;
    mosq_connect = mq_devs.start(o.self, work, "mosquitto", s, ids, nullptr);
    connect_line("mosquitto", mosq_connect);
  }

  // ---- rounds. Each round runs, at every C, the hub, mosquitto and the ceiling in alternating
  // slices of ~--slice s (ABBA order: hub, mosquitto, echo, then echo, mosquitto, hub, ...) until
  // each has had --duration s, and adds one run per scenario made of its slices. On this VM the
  // machine's speed drifts by 10-20 % within minutes; runs a minute apart put that drift into the
  // ratios (one round's hub/mosquitto went from 1.06 to 1.46 between rounds, session 8), slices a
  // few seconds apart cancel most of it. hub-offline (no peer to compare with) runs whole.
  struct contender {
    std::string name;
    pid_t server, helper;
    std::function<worker_fn(void)> make;
  };
  std::vector<contender> alternating;
  if (!o.skip_hub)
    alternating.push_back({"hub", hub.pid, hub_devs.pid(), [&] {
                             return hub_invoker(hub.http, auth, ids, 0, o.devices, o.payload);
                           }});
  if (mq > 0)
    alternating.push_back({"mosquitto", mq, mq_devs.pid(),
                           [&] { return mqtt_requester(mq_port, ids, o.devices, o.payload); }});
  if (es > 0)
    alternating.push_back({"tcp-echo", es, -1, [&] { return echo_client(es_port, o.payload); }});
  const int slices =
      alternating.size() > 1 ? std::max(1, static_cast<int>(std::lround(o.duration / o.slice))) : 1;
  if (slices > 1)
    std::printf("  each run: %d slices of %.2f s, alternating with the other scenarios\n", slices,
                o.duration / slices);
  std::vector<int> offline_c{1};  // the offline target is a latency: p99 < 1 ms at C=1
  for (int c : o.concurrency)
    if (c != 1) offline_c.push_back(c);
  for (int round = 0; round < o.runs; ++round) {
    if (o.runs > 1) std::printf("  round %d of %d\n", round + 1, o.runs);
    for (int c : o.concurrency) {
      std::vector<run_result> runs(alternating.size());
      for (int k = 0; k < slices; ++k)
        for (std::size_t j = 0; j < alternating.size(); ++j) {
          const std::size_t at = k % 2 == 0 ? j : alternating.size() - 1 - j;
          const auto& who = alternating[at];
          runs[at].absorb(
              timed_run(ioc, c, o.duration / slices, who.server, who.make(), who.helper));
          if (!child_alive(who.server))
            throw std::runtime_error(who.name + ": the server process died");
          if (who.helper > 0 && !child_alive(who.helper))
            throw std::runtime_error(who.name + ": the device process died");
        }
      for (std::size_t j = 0; j < alternating.size(); ++j) {
        auto& st = stats_of(alternating[j].name, c);
        st.runs.push_back(std::move(runs[j]));
        print_run(alternating[j].name, c, round, st.runs.back());
      }
    }
    // A call to a registered device that is not connected: answered 404103 by the hub alone.
    if (!o.skip_hub && !o.skip_offline)
      run_scenario(
          "hub-offline", hub.pid,
          [&] {
            return hub_invoker(hub.http, auth, ids, o.devices, ids.size() - o.devices, o.payload,
                               true);
          },
          round, offline_c);
    if (!o.skip_hub) hub_rss_after = rss_kb(hub.pid);
  }
  for (auto* set : {&hub_devs, &mq_devs}) {
    std::string why;
    if (auto dropped = set->stop(&why))
      std::printf("  %s: %zu devices dropped during the runs: %s\n",
                  set == &hub_devs ? "hub" : "mosquitto", dropped, why.c_str());
  }

  // hub-tls (--tls): after the rounds, its own ramp (slow: 100/s), then every run in a row.
  if (!o.skip_hub && o.tls_throughput) {
    device_set dt;
    dt.kind = peer_kind::hub;
    dt.tls = true;
    dt.port = hub.mqtts;
    dt.sources = o.sources;
    dt.tls_ctx = &tls_ctx;
    dt.ids = &ids;
    dt.tokens = &tokens;
    auto rep = connect_devices(ioc, dt, 0, o.devices, o.tls_ramp,
                               60.0 + static_cast<double>(o.devices) / o.tls_ramp * 3);
    connect_line("hub TLS", rep);
    if (rep.connected > 0)
      for (int round = 0; round < o.runs; ++round)
        run_scenario(
            "hub-tls", hub.pid,
            [&] {
              return hub_invoker(hub.https, auth, ids, 0, o.devices, o.payload, false, &tls_ctx);
            },
            round);
    if (dt.dropped)
      std::printf("  hub TLS: %zu devices dropped during the runs\n", dt.dropped.load());
    disconnect_devices(dt);
  }
  stop_child(es);
  stop_child(mq);
  stop_child(hub.pid);

  if (!o.skip_footprint) foot = run_footprint(ioc, o, data, ids, tokens, tls_ctx, cap_devices);

  // ---- the table.
  std::printf("  load average at end: %s", read_file("/proc/loadavg").c_str());
  std::printf(
      "\n## Request/response, medians of %d runs of %.0f s (latency in ms; CPU in %% of one core, "
      "%d cores; other = every other process on the machine)\n\n",
      o.runs, o.duration, static_cast<int>(std::thread::hardware_concurrency()));
  std::printf(
      "| scenario | C | round trips/s | p50 | p90 | p99 | p99.9 | max | errors | server CPU | "
      "bench CPU | other CPU |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::map<std::pair<std::string, int>, summary> sums;
  for (const auto& s : scenarios) {
    auto m = summarize(s);
    sums[{s.name, s.concurrency}] = m;
    std::printf(
        "| %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %llu | %.0f%% | %.0f%% | %.0f%% |\n",
        s.name.c_str(), s.concurrency, m.rate, m.p50, m.p90, m.p99, m.p999, m.max,
        static_cast<unsigned long long>(m.errors), m.server_cpu, m.bench_cpu, m.other_cpu);
  }
  // "Each round": the ratio of the two runs of a round, which ran a minute or so apart; their
  // spread shows how much of the ratio is the machine's drift.
  std::printf(
      "\n| ratio | C | round trips/s | each round | p50 | p99 | p99.9 |\n"
      "|---|---:|---:|---|---:|---:|---:|\n");
  for (int c : o.concurrency) {
    auto h = sums.find({"hub", c});
    if (h == sums.end()) continue;
    for (const char* other : {"mosquitto", "tcp-echo"}) {
      auto x = sums.find({other, c});
      if (x == sums.end() || x->second.rate == 0) continue;
      auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
      std::string rounds;
      const auto& hr = stats_of("hub", c).runs;  // both exist: they have summaries
      const auto& xr = stats_of(other, c).runs;
      for (std::size_t i = 0; i < hr.size() && i < xr.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.2f", i ? " " : "", div(hr[i].rate(), xr[i].rate()));
        rounds += buf;
      }
      std::printf("| hub / %s | %d | %.2f | %s | %.2f | %.2f | %.2f |\n", other, c,
                  div(h->second.rate, x->second.rate), rounds.c_str(),
                  div(h->second.p50, x->second.p50), div(h->second.p99, x->second.p99),
                  div(h->second.p999, x->second.p999));
    }
  }
  print_cpu_per_round_trip(scenarios, 1.5, o.hub_threads);  // issue 6's throughput target
  bool any_err = false;
  for (const auto& [k, m] : sums)
    for (const auto& [what, n] : m.error_kinds) {
      if (!any_err) std::printf("\nErrors (all runs):\n");
      any_err = true;
      std::printf("- %s C=%d: %s: %llu\n", k.first.c_str(), k.second, what.c_str(),
                  static_cast<unsigned long long>(n));
    }
  std::printf("\n## Connect and idle footprint\n\n");
  std::printf("- registration: %zu devices via PUT /devices in %.1f s\n", ids.size(), reg_s);
  if (!o.skip_hub)
    std::printf(
        "- hub: %zu/%zu devices connected (ramp %.0f/s) in %.2f s; hub RSS empty %ld KB, after the "
        "runs %ld KB\n",
        hub_connect.connected, hub_connect.target, o.ramp, hub_connect.seconds, hub_rss_empty,
        hub_rss_after);
  if (!o.skip_mosquitto)
    std::printf("- mosquitto: %zu/%zu devices connected in %.2f s\n", mosq_connect.connected,
                mosq_connect.target, mosq_connect.seconds);
  if (!foot.empty()) {
    std::printf(
        "- footprint ramps: plain %.0f/s, TLS %.0f/s; RSS/device = (hub RSS - hub RSS idle, i.e. "
        "started with every device registered and none connected) / connected\n",
        o.ramp, o.tls_ramp);
    std::printf(
        "\n| transport | devices asked | connected | failed | connect time s | hub RSS idle KB | "
        "hub RSS KB | RSS/device KB | TCP mem/device KB (both ends) | kernel slab/device KB (both "
        "ends) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    long page_kb = ::sysconf(_SC_PAGESIZE) / 1024;
    for (const auto& r : foot) {
      double n = static_cast<double>(std::max<std::size_t>(1, r.connected));
      std::printf("| %s | %zu | %zu | %zu | %.1f | %ld | %ld | %.2f | %.2f | %.2f |\n",
                  r.transport.c_str(), r.target, r.connected, r.failed, r.seconds, r.rss_idle_kb,
                  r.rss_kb, static_cast<double>(r.rss_kb - r.rss_idle_kb) / n,
                  static_cast<double>((r.sock_pages - r.sock_pages_before) * page_kb) / n,
                  static_cast<double>(r.slab_kb - r.slab_before_kb) / n);
    }
    for (const auto& r : foot)
      if (!r.failures.empty())
        std::printf("- %s %zu: failures: %s\n", r.transport.c_str(), r.target, r.failures.c_str());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace hub::bench
