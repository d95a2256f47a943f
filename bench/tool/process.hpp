#pragma once
// Child processes and /proc readings. Every child started by spawn() (at most 8 at a time, output
// to `log`) is killed on every exit path: kill_children_now() (atexit, exceptions, the workdir's
// cleanup), on_fatal_signal() (the handler for SIGINT/SIGTERM/SIGHUP/SIGALRM) and the child's own
// PR_SET_PDEATHSIG; stop_child() ends one with SIGTERM (SIGKILL after 10 s) and reaps it. The
// readers return -1 (the CPU ones: 0) or an empty string when what they look for is absent.

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"

namespace hub::bench {

void kill_children_now();
extern "C" void on_fatal_signal(int sig);
pid_t spawn(const std::vector<std::string>& argv, const fs::path& log);
void stop_child(pid_t pid);
bool child_alive(pid_t pid);

long rss_kb(pid_t pid);
// CPU seconds a process has used, in user space and in the kernel (/proc/<pid>/stat).
struct cpu_times {
  double user = 0, kernel = 0;
  double total() const { return user + kernel; }
};
cpu_times cpu_times_of(pid_t pid);
double cpu_seconds(pid_t pid);
double machine_busy_seconds();
long sockstat_tcp_mem_pages();
long meminfo_kb(std::string_view key);
std::string read_file(const fs::path& p);
std::string tail_of(const fs::path& p, std::size_t n = 2000);
std::string json_string_after(const std::string& text, std::string_view key, std::size_t from = 0);
long json_number_after(const std::string& text, std::string_view key);

}  // namespace hub::bench
