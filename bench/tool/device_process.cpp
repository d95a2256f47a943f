#include "device_process.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "process.hpp"

namespace hub::bench {

namespace {

void write_atomically(const fs::path& p, const std::string& text) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, p);
}

fs::path with_suffix(const fs::path& p, const char* suffix) {
  return p.string() + suffix;
}

}  // namespace

connect_report device_process::start(const std::string& self, const fs::path& work,
                                     const std::string& name, const settings& s,
                                     const std::vector<std::string>& ids,
                                     const std::vector<std::string>* tokens) {
  if (pid_ > 0) throw std::logic_error("device_process started twice");
  const std::size_t n = std::min(s.count, ids.size());
  const fs::path ids_file = work / (name + "-devices.ids");
  {
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
      text += ids[i];
      if (tokens) text += ' ' + (*tokens)[i];
      text += '\n';
    }
    write_atomically(ids_file, text);
  }
  status_ = work / (name + "-devices.status");
  const fs::path log = work / (name + "-devices.log");
  pid_ = spawn({self,
                "devices",
                "--kind",
                s.kind == peer_kind::hub ? "hub" : "mosquitto",
                "--port",
                std::to_string(s.port),
                "--ids-file",
                ids_file.string(),
                "--count",
                std::to_string(n),
                "--ramp",
                std::to_string(s.ramp),
                "--timeout",
                std::to_string(s.timeout_s),
                "--sources",
                std::to_string(s.sources),
                "--threads",
                std::to_string(s.threads),
                "--status-file",
                status_.string()},
               log);
  const fs::path report = with_suffix(status_, ".connect");
  const auto until = clk::now() + std::chrono::duration_cast<clk::duration>(
                                      std::chrono::duration<double>(s.timeout_s + 30));
  while (!fs::exists(report)) {
    if (!child_alive(pid_))
      throw std::runtime_error(name + " devices: the process ended: " + tail_of(log));
    if (clk::now() > until) throw std::runtime_error(name + " devices: no connect report");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  connect_report r;
  std::istringstream in(read_file(report));
  in >> r.target >> r.connected >> r.failed >> r.seconds;
  in >> std::ws;
  std::getline(in, r.failures);
  return r;
}

std::size_t device_process::stop(std::string* failures) {
  if (pid_ <= 0) return 0;
  stop_child(pid_);
  pid_ = -1;
  std::size_t dropped = 0;
  std::istringstream in(read_file(with_suffix(status_, ".final")));
  in >> dropped >> std::ws;
  if (failures) std::getline(in, *failures);
  return dropped;
}

int devices_main(const device_process::settings& s, const fs::path& ids_file,
                 const fs::path& status_file) {
  // SIGTERM and SIGINT are taken by sigwait() below. Blocked before any thread starts, so that
  // every thread inherits the mask and none runs main()'s fatal-signal handler for them.
  sigset_t stop_set;
  ::sigemptyset(&stop_set);
  ::sigaddset(&stop_set, SIGTERM);
  ::sigaddset(&stop_set, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  ::alarm(4 * 3600);  // the watchdog, should the parent forget us (it also kills us as it dies)

  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);

  std::vector<std::string> ids, tokens;
  {
    std::istringstream in(read_file(ids_file));
    std::string line;
    while (std::getline(in, line) && ids.size() < s.count) {
      const auto sp = line.find(' ');
      ids.push_back(line.substr(0, sp));
      tokens.push_back(sp == std::string::npos ? std::string() : line.substr(sp + 1));
    }
  }

  device_set ds;
  ds.kind = s.kind;
  ds.port = s.port;
  ds.sources = s.sources;
  ds.ids = &ids;
  ds.tokens = &tokens;
  asio::io_context ioc(s.threads);
  auto guard = asio::make_work_guard(ioc);
  std::vector<std::thread> pool;
  for (int i = 0; i < s.threads; ++i) pool.emplace_back([&] { ioc.run(); });

  auto r = connect_devices(ioc, ds, 0, ids.size(), s.ramp, s.timeout_s);
  char head[128];
  std::snprintf(head, sizeof head, "%zu %zu %zu %.3f\n", r.target, r.connected, r.failed,
                r.seconds);
  write_atomically(with_suffix(status_file, ".connect"), head + r.failures + "\n");

  int sig = 0;
  ::sigwait(&stop_set, &sig);

  std::string drops;
  {
    std::lock_guard<std::mutex> l(ds.m);
    for (const auto& [why, n] : ds.failures)
      if (why.rfind("dropped", 0) == 0)
        drops += (drops.empty() ? "" : "; ") + why + " x" + std::to_string(n);
  }
  write_atomically(with_suffix(status_file, ".final"),
                   std::to_string(ds.dropped.load()) + "\n" + drops + "\n");
  // At once: the devices' sockets close with the process, and joining 10 000 strands' worth of
  // teardown would only delay the parent's next run.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace hub::bench
