#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hub::bench {

// ------------------------------------------------------------------------------------------------
// Child processes: killed on every exit path (normal, exception, signal, watchdog, parent death).

namespace {

constexpr int max_children = 8;
volatile sig_atomic_t g_child[max_children] = {};

}  // namespace

void kill_children_now() {
  for (int i = 0; i < max_children; ++i)
    if (g_child[i] > 0) ::kill(static_cast<pid_t>(g_child[i]), SIGKILL);
}

extern "C" void on_fatal_signal(int sig) {
  kill_children_now();
  const char msg[] = "methodhub-bench: stopped by a signal (or the watchdog); children killed\n";
  [[maybe_unused]] auto r = ::write(2, msg, sizeof msg - 1);
  ::_exit(128 + sig);
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string log_s = log.string();
  int slot = -1;
  for (int i = 0; i < max_children; ++i)
    if (g_child[i] == 0) {
      slot = i;
      break;
    }
  if (slot < 0) throw std::runtime_error("too many child processes");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int nul = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (nul >= 0) ::dup2(nul, 0);
    ::close_range(3, ~0U, 0);  // our sockets must not live on in the child
    ::execv(args[0], args.data());
    const char msg[] = "methodhub-bench: exec failed\n";
    [[maybe_unused]] auto r = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  g_child[slot] = pid;
  return pid;
}

void stop_child(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  auto until = clk::now() + std::chrono::seconds(10);
  bool gone = false;
  while (clk::now() < until) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) {
      gone = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!gone) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  for (int i = 0; i < max_children; ++i)
    if (g_child[i] == pid) g_child[i] = 0;
}

bool child_alive(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

// ------------------------------------------------------------------------------------------------
// /proc readings.

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

cpu_times cpu_times_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return {};
  std::istringstream fields(all.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (fields >> tok && f.size() < 16) f.push_back(tok);
  if (f.size() < 13) return {};  // f[0] is field 3 (state): utime is field 14, stime 15
  const auto tck = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {std::atof(f[11].c_str()) / tck, std::atof(f[12].c_str()) / tck};
}

double cpu_seconds(pid_t pid) {
  return cpu_times_of(pid).total();
}

// Busy CPU seconds of the whole machine (every process), from /proc/stat.
double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double v[8] = {};
  in >> cpu;
  for (double& x : v) in >> x;
  double busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // user nice system irq softirq steal
  return busy / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long sockstat_tcp_mem_pages() {
  std::ifstream in("/proc/net/sockstat");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("TCP:", 0) == 0) {
      auto p = line.find(" mem ");
      if (p != std::string::npos) return std::atol(line.c_str() + p + 5);
    }
  return -1;
}

long meminfo_kb(std::string_view key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  return -1;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string tail_of(const fs::path& p, std::size_t n) {
  auto s = read_file(p);
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// The string value after `"key"` and a colon, searching from `from`; empty if absent.
std::string json_string_after(const std::string& text, std::string_view key, std::size_t from) {
  auto k = text.find("\"" + std::string(key) + "\"", from);
  if (k == std::string::npos) return {};
  auto colon = text.find(':', k);
  if (colon == std::string::npos) return {};
  auto q1 = text.find('"', colon);
  if (q1 == std::string::npos) return {};
  auto q2 = text.find('"', q1 + 1);
  if (q2 == std::string::npos) return {};
  return text.substr(q1 + 1, q2 - q1 - 1);
}

long json_number_after(const std::string& text, std::string_view key) {
  auto k = text.find("\"" + std::string(key) + "\"");
  if (k == std::string::npos) return -1;
  auto colon = text.find(':', k);
  if (colon == std::string::npos) return -1;
  return std::atol(text.c_str() + colon + 1);
}

}  // namespace hub::bench
