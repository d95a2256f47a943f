// methodhub-bench: the load generator and the harness of bench/run (issue 6, design.md
// "Benchmarks").
//
//   methodhub-bench suite --hub-bin PATH [options]   everything, in one run, then a table of
//   medians methodhub-bench echo-server --port-file F        the ceiling's server (the suite forks
//   it)
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
// Latencies go into a log-linear histogram (every sample, <1% bucket error). All traffic stays on
// 127.0.0.0/8; every loop is bounded in count and time, and a watchdog alarm ends the process.
//
// Threads: one io_context, --threads threads; every connection lives on its own strand.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "codec/mqtt/decode.hpp"
#include "codec/mqtt/encode.hpp"
#include "codec/mqtt/packets.hpp"
#include "codec/sas/sas_token.hpp"

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
namespace mqtt = hub::codec::mqtt;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using clk = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------------------
// Child processes: killed on every exit path (normal, exception, signal, watchdog, parent death).

constexpr int max_children = 8;
volatile sig_atomic_t g_child[max_children] = {};

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

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream fields(all.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (fields >> tok && f.size() < 16) f.push_back(tok);
  if (f.size() < 13) return 0;  // f[0] is field 3 (state): utime is field 14, stime 15
  double ticks = std::atof(f[11].c_str()) + std::atof(f[12].c_str());
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
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

std::string tail_of(const fs::path& p, std::size_t n = 2000) {
  auto s = read_file(p);
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// The string value after `"key"` and a colon, searching from `from`; empty if absent.
std::string json_string_after(const std::string& text, std::string_view key, std::size_t from = 0) {
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

// ------------------------------------------------------------------------------------------------
// Latency histogram: log-linear (HDR-style) buckets over nanoseconds, 64 sub-buckets per power of
// two (bucket width <= 1/64 of its value), exact below 128 ns. Every sample is recorded.

class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t half = 1u << (sub_bits - 1);
  static constexpr std::uint64_t limit = (std::uint64_t{1} << 40) - 1;  // ~18 minutes
  histogram() : counts_(128 + 34 * half, 0) {}

  void record(std::uint64_t ns) {
    ns = std::min(ns, limit);
    ++counts_[index(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The highest value equivalent to the sample of rank ceil(q * count).
  std::uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < 128) return static_cast<std::size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (sub_bits - 1);
    std::uint64_t sub = v >> shift;  // [64, 128)
    return static_cast<std::size_t>(128 + (shift - 1) * half + (sub - half));
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < 128) return i;
    std::uint64_t shift = (i - 128) / half + 1;
    std::uint64_t sub = (i - 128) % half + half;
    return ((sub + 1) << shift) - 1;
  }
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// ------------------------------------------------------------------------------------------------
// Connections: each on its own strand; `slot` lets the main thread close it from outside.

using strand_t = asio::strand<asio::io_context::executor_type>;

struct slot {
  explicit slot(asio::io_context& ioc) : strand(asio::make_strand(ioc)) {}
  strand_t strand;
  tcp::socket* sock = nullptr;  // touched only on `strand`
  bool closing = false;
};

void close_slots(const std::vector<std::shared_ptr<slot>>& slots) {
  for (const auto& s : slots)
    asio::post(s->strand, [s] {
      s->closing = true;
      if (s->sock) {
        boost::system::error_code ec;
        s->sock->close(ec);
      }
    });
}

struct slot_guard {
  slot& s;
  ~slot_guard() { s.sock = nullptr; }
};

std::string reason_of(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

// Opens `sock`, binds it to 127.0.0.<1 + source % sources> (port chosen at connect time, so each
// source address has its own ephemeral port range) and connects to 127.0.0.1:port.
awaitable<void> open_and_connect(tcp::socket& sock, std::uint16_t port, std::size_t source,
                                 std::size_t sources) {
  sock.open(tcp::v4());
  int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sock.set_option(tcp::no_delay(true));
  auto src = asio::ip::address_v4(
      0x7f000001u + static_cast<std::uint32_t>(source % std::max<std::size_t>(1, sources)));
  sock.bind(tcp::endpoint(src, 0));
  co_await sock.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), use_awaitable);
}

template <class S>
awaitable<void> read_more(S& s, std::string& in) {
  constexpr std::size_t chunk = 4096;
  if (in.size() > 1024 * 1024) throw std::runtime_error("receive buffer overflow");
  std::size_t old = in.size();
  in.resize(old + chunk);
  std::size_t n = 0;
  try {
    n = co_await s.async_read_some(asio::buffer(in.data() + old, chunk), use_awaitable);
  } catch (...) {
    in.resize(old);
    throw;
  }
  in.resize(old + n);
}

template <class S>
awaitable<mqtt::packet> read_packet(S& s, std::string& in) {
  for (int i = 0; i < 100000; ++i) {
    auto r = mqtt::decode(in);
    if (r.status == mqtt::decode_status::ok) {
      in.erase(0, r.consumed);
      co_return std::move(r.packet);
    }
    if (r.status == mqtt::decode_status::error)
      throw std::runtime_error("MQTT decode error: " + std::string(mqtt::to_string(r.error)));
    co_await read_more(s, in);
  }
  throw std::runtime_error("MQTT packet never completed");
}

// CONNECT, CONNACK, SUBSCRIBE `filter`, SUBACK. Throws with the refusal as the reason.
template <class S>
awaitable<void> mqtt_handshake(S& s, std::string& in, mqtt::connect c, const std::string& filter) {
  std::string out;
  mqtt::encode(out, c);
  co_await asio::async_write(s, asio::buffer(out), use_awaitable);
  auto p = co_await read_packet(s, in);
  auto* ca = std::get_if<mqtt::connack>(&p);
  if (!ca) throw std::runtime_error("no CONNACK");
  if (ca->return_code != mqtt::connect_return_code::accepted)
    throw std::runtime_error("CONNACK refused (code " +
                             std::to_string(static_cast<int>(ca->return_code)) + ")");
  out.clear();
  mqtt::subscribe sub;
  sub.packet_id = 1;
  sub.subscriptions.push_back({filter, 0});
  mqtt::encode(out, sub);
  co_await asio::async_write(s, asio::buffer(out), use_awaitable);
  for (int i = 0; i < 100; ++i) {
    auto q = co_await read_packet(s, in);
    if (auto* sa = std::get_if<mqtt::suback>(&q)) {
      if (sa->return_codes.empty() || sa->return_codes[0] == mqtt::suback_failure)
        throw std::runtime_error("SUBACK refused");
      co_return;
    }
  }
  throw std::runtime_error("no SUBACK");
}

// ------------------------------------------------------------------------------------------------
// Device simulator.

enum class peer_kind { hub, mosquitto };

struct device_set {
  peer_kind kind = peer_kind::hub;
  bool tls = false;
  std::uint16_t port = 0;
  std::size_t sources = 4;
  ssl::context* tls_ctx = nullptr;
  const std::vector<std::string>* ids = nullptr;
  const std::vector<std::string>* tokens = nullptr;  // hub only
  std::string host = "localhost";
  std::vector<std::shared_ptr<slot>> slots;
  std::atomic<std::size_t> ready{0}, failed{0}, dropped{0}, alive{0};
  std::atomic<std::uint64_t> answered{0};
  std::mutex m;
  std::map<std::string, std::size_t> failures;
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> l(m);
    ++failures[why];
  }
};

template <class S>
awaitable<void> device_loop(S& s, device_set& ds, std::size_t i, bool& ready) {
  std::string in, out;
  const std::string& id = (*ds.ids)[i];
  mqtt::connect c;
  c.client_id = id;
  c.clean_session = true;
  c.keep_alive = 0;
  if (ds.kind == peer_kind::hub) {
    c.username = ds.host + "/" + id + "/?api-version=2021-04-12";
    c.password = (*ds.tokens)[i];
  }
  // A named filter: GCC 12 destroys temporaries of a conditional inside co_await twice.
  std::string filter = "$iothub/methods/POST/#";
  if (ds.kind != peer_kind::hub) filter = "req/" + id;
  co_await mqtt_handshake(s, in, c, filter);
  ready = true;
  ++ds.ready;
  in.shrink_to_fit();
  static constexpr std::string_view rid_key = "?$rid=";
  for (;;) {
    std::size_t off = 0;
    std::uint64_t n = 0;
    for (int k = 0; k < 10000; ++k) {
      auto r = mqtt::decode(std::string_view(in).substr(off));
      if (r.status == mqtt::decode_status::need_more) break;
      if (r.status == mqtt::decode_status::error)
        throw std::runtime_error("MQTT decode error: " + std::string(mqtt::to_string(r.error)));
      off += r.consumed;
      auto* p = std::get_if<mqtt::publish>(&r.packet);
      if (!p) continue;
      if (p->qos == 1) mqtt::encode(out, mqtt::puback{p->packet_id});
      if (ds.kind == peer_kind::hub) {
        auto at = p->topic.find(rid_key);
        if (at == std::string::npos) continue;
        auto rid = std::string_view(p->topic).substr(at + rid_key.size());
        rid = rid.substr(0, rid.find('&'));
        std::string topic = "$iothub/methods/res/200/?$rid=";
        topic += rid;
        mqtt::encode_publish(out, topic, p->payload, 0, 0);
      } else {
        auto nl = p->payload.find('\n');
        if (nl == std::string::npos || nl == 0) continue;
        mqtt::encode_publish(out, std::string_view(p->payload).substr(0, nl), p->payload, 0, 0);
      }
      ++n;
    }
    in.erase(0, off);
    if (!out.empty()) {
      co_await asio::async_write(s, asio::buffer(out), use_awaitable);
      out.clear();
      ds.answered += n;
    }
    co_await read_more(s, in);
  }
}

awaitable<void> run_device(device_set& ds, std::size_t i, std::shared_ptr<slot> sl) {
  bool ready = false;
  try {
    tcp::socket sock(sl->strand);
    sl->sock = &sock;
    slot_guard g{*sl};
    if (sl->closing) co_return;
    co_await open_and_connect(sock, ds.port, i, ds.sources);
    if (ds.tls) {
      ssl::stream<tcp::socket&> s(sock, *ds.tls_ctx);
      co_await s.async_handshake(ssl::stream_base::client, use_awaitable);
      co_await device_loop(s, ds, i, ready);
    } else {
      co_await device_loop(sock, ds, i, ready);
    }
  } catch (const std::exception& e) {
    if (!ready) {
      ++ds.failed;
      ds.fail(reason_of(e));
    } else if (!sl->closing) {
      ++ds.dropped;
      ds.fail("dropped after connect: " + reason_of(e));
    }
  }
  if (ready) --ds.ready;
  --ds.alive;
}

struct connect_report {
  std::size_t target = 0, connected = 0, failed = 0;
  double seconds = 0;
  std::string failures;
};

// Connects devices [from, to) at `rate` per second and waits until each is subscribed or failed.
connect_report connect_devices(asio::io_context& ioc, device_set& ds, std::size_t from,
                               std::size_t to, double rate, double timeout_s) {
  auto t0 = clk::now();
  std::size_t base_ready = ds.ready, base_failed = ds.failed;
  for (std::size_t i = from; i < to; ++i) {
    auto sl = std::make_shared<slot>(ioc);
    ds.slots.push_back(sl);
    ++ds.alive;
    asio::co_spawn(sl->strand, run_device(ds, i, sl), asio::detached);
    auto due = t0 + std::chrono::duration_cast<clk::duration>(
                        std::chrono::duration<double>((i - from + 1) / rate));
    if ((i - from) % 16 == 15) std::this_thread::sleep_until(due);
  }
  auto until = clk::now() +
               std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(timeout_s));
  while (clk::now() < until) {
    if ((ds.ready - base_ready) + (ds.failed - base_failed) >= to - from) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  connect_report r;
  r.target = to - from;
  r.connected = ds.ready - base_ready;
  r.failed = ds.failed - base_failed;
  r.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  std::lock_guard<std::mutex> l(ds.m);
  for (const auto& [why, n] : ds.failures)
    r.failures += (r.failures.empty() ? "" : "; ") + why + " x" + std::to_string(n);
  return r;
}

void disconnect_devices(device_set& ds) {
  close_slots(ds.slots);
  auto until = clk::now() + std::chrono::seconds(30);
  while (ds.alive > 0 && clk::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (ds.alive > 0) throw std::runtime_error("devices did not close within 30 s");
  ds.slots.clear();
}

// ------------------------------------------------------------------------------------------------
// HTTP/1.1 client pieces.

template <class S>
awaitable<int> read_http_response(S& s, std::string& in, std::string& body) {
  std::size_t he;
  for (int i = 0; (he = in.find("\r\n\r\n")) == std::string::npos; ++i) {
    if (i > 10000 || in.size() > 65536) throw std::runtime_error("HTTP header too long");
    co_await read_more(s, in);
  }
  if (in.compare(0, 5, "HTTP/") != 0 || in.size() < 12)
    throw std::runtime_error("not an HTTP response");
  int status = std::atoi(in.c_str() + 9);
  long length = -1;
  bool chunked = false;
  std::size_t pos = in.find("\r\n") + 2;
  while (pos < he) {
    std::size_t le = in.find("\r\n", pos);
    std::string line = in.substr(pos, le - pos);
    pos = le + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "content-length") length = std::atol(line.c_str() + colon + 1);
    if (name == "transfer-encoding" && line.find("chunked") != std::string::npos) chunked = true;
  }
  body.clear();
  std::size_t start = he + 4;
  if (chunked) {
    std::size_t p = start;
    for (int guard = 0; guard < 100000; ++guard) {
      std::size_t le;
      while ((le = in.find("\r\n", p)) == std::string::npos) co_await read_more(s, in);
      std::size_t size = std::strtoul(in.c_str() + p, nullptr, 16);
      std::size_t data = le + 2;
      while (in.size() < data + size + 2) co_await read_more(s, in);
      if (size == 0) {
        in.erase(0, data + 2);
        co_return status;
      }
      body.append(in, data, size);
      p = data + size + 2;
    }
    throw std::runtime_error("too many chunks");
  }
  if (length < 0) length = 0;
  std::size_t need = start + static_cast<std::size_t>(length);
  for (int i = 0; in.size() < need; ++i) {
    if (i > 100000) throw std::runtime_error("HTTP body never completed");
    co_await read_more(s, in);
  }
  body.assign(in, start, static_cast<std::size_t>(length));
  in.erase(0, need);
  co_return status;
}

std::string http_request(std::string_view method, std::string_view target, const std::string& auth,
                         std::string_view body) {
  std::string r;
  r.reserve(256 + auth.size() + body.size());
  r += method;
  r += ' ';
  r += target;
  r += " HTTP/1.1\r\nHost: localhost\r\nAuthorization: ";
  r += auth;
  r += "\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n\r\n";
  r += body;
  return r;
}

// Registers devices [0, n) with PUT /devices/{id} over `conns` keep-alive connections and stores
// each primary key. Returns seconds taken.
double register_devices(asio::io_context& ioc, std::uint16_t http_port, const std::string& auth,
                        const std::vector<std::string>& ids, std::vector<std::string>& keys,
                        int conns) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> bad{0};
  std::mutex m;
  std::string first_error;
  auto worker = [&](std::shared_ptr<slot> sl) -> awaitable<void> {
    try {
      tcp::socket sock(sl->strand);
      sl->sock = &sock;
      slot_guard g{*sl};
      co_await open_and_connect(sock, http_port, 0, 1);
      std::string in, body;
      for (std::size_t i; (i = next++) < ids.size();) {
        std::string req = http_request("PUT", "/devices/" + ids[i] + "?api-version=2021-04-12",
                                       auth, "{\"deviceId\":\"" + ids[i] + "\"}");
        co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
        int status = co_await read_http_response(sock, in, body);
        std::string key = json_string_after(body, "primaryKey");
        if (status != 200 || key.empty()) {
          ++bad;
          std::lock_guard<std::mutex> l(m);
          if (first_error.empty()) first_error = std::to_string(status) + " " + body.substr(0, 300);
          continue;
        }
        keys[i] = key;
      }
    } catch (const std::exception& e) {
      ++bad;
      std::lock_guard<std::mutex> l(m);
      if (first_error.empty()) first_error = reason_of(e);
    }
  };
  auto t0 = clk::now();
  std::vector<std::future<void>> fs;
  std::vector<std::shared_ptr<slot>> slots;
  for (int k = 0; k < conns; ++k) {
    slots.push_back(std::make_shared<slot>(ioc));
    fs.push_back(asio::co_spawn(slots.back()->strand, worker(slots.back()), asio::use_future));
  }
  auto until = clk::now() + std::chrono::seconds(600);
  for (auto& f : fs)
    if (f.wait_until(until) != std::future_status::ready) {
      close_slots(slots);
      for (auto& f2 : fs) f2.wait_for(std::chrono::seconds(5));
      throw std::runtime_error("device registration did not finish in 600 s");
    }
  if (bad)
    throw std::runtime_error("device registration: " + std::to_string(bad.load()) +
                             " failures, first: " + first_error);
  return std::chrono::duration<double>(clk::now() - t0).count();
}

// ------------------------------------------------------------------------------------------------
// Timed request/response runs: C workers until the deadline.

struct worker_state {
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
  double other_cpu = 0;                  // everything else on the machine, percent of one core
  double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  std::uint64_t error_count() const {
    std::uint64_t n = cut;
    for (const auto& [k, v] : errors) n += v;
    return n;
  }
};

using worker_fn = std::function<awaitable<void>(worker_state&, clk::time_point deadline)>;

// A coroutine, not a lambda: its arguments live in its frame (a lambda's captures would not).
awaitable<void> run_worker(const worker_fn& fn, worker_state& w, clk::time_point deadline) {
  try {
    co_await fn(w, deadline);
  } catch (const std::exception& e) {
    if (!w.sl->closing) ++w.errors["connection: " + reason_of(e)];
  }
}

run_result timed_run(asio::io_context& ioc, int concurrency, double duration_s, pid_t server,
                     const worker_fn& fn) {
  std::vector<worker_state> ws(static_cast<std::size_t>(concurrency));
  std::vector<std::shared_ptr<slot>> slots;
  for (auto& w : ws) {
    w.sl = std::make_shared<slot>(ioc);
    slots.push_back(w.sl);
  }
  double s0 = cpu_seconds(server), b0 = cpu_seconds(::getpid()), m0 = machine_busy_seconds();
  auto t0 = clk::now();
  auto deadline =
      t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(duration_s));
  std::vector<std::future<void>> fs;
  for (auto& w : ws)
    fs.push_back(asio::co_spawn(w.sl->strand, run_worker(fn, w, deadline), asio::use_future));
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
  r.server_cpu = 100.0 * (cpu_seconds(server) - s0) / r.seconds;
  r.bench_cpu = 100.0 * (cpu_seconds(::getpid()) - b0) / r.seconds;
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

std::string make_padding(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

struct invoke_params {
  std::uint16_t port = 0;
  ssl::context* tls = nullptr;  // HTTPS when set
  std::string auth;
  const std::vector<std::string>* ids = nullptr;
  std::size_t first = 0, devices = 0;
  std::string pad, body;
  bool offline = false;
};

template <class S>
awaitable<void> invoke_loop(S& s, worker_state& w, clk::time_point deadline,
                            const invoke_params& p) {
  std::mt19937_64 rng(reinterpret_cast<std::uintptr_t>(&w));
  std::uniform_int_distribution<std::size_t> pick(p.first, p.first + p.devices - 1);
  std::string in, resp, body = p.body;
  // The pad's last 16 characters (payload >= 32 bytes) become this call's own tag, so an answer
  // meant for another call (or a second answer to an earlier one) is caught; same payload size.
  const auto pad_at = body.find(p.pad);
  const auto worker = static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(&w) >> 4);
  for (std::uint64_t n = 0; n < 100'000'000 && clk::now() < deadline; ++n) {
    char tag[17];
    std::snprintf(tag, sizeof tag, "%08llx%08llx", worker & 0xffffffffULL,
                  static_cast<unsigned long long>(n & 0xffffffffULL));
    body.replace(pad_at + p.pad.size() - 16, 16, tag, 16);
    std::string req = http_request(
        "POST", "/twins/" + (*p.ids)[pick(rng)] + "/methods?api-version=2021-04-12", p.auth, body);
    auto t0 = clk::now();
    w.in_flight = true;
    co_await asio::async_write(s, asio::buffer(req), use_awaitable);
    int status = co_await read_http_response(s, in, resp);
    w.in_flight = false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
    // The error envelope nests its JSON in "Message" as a string: look for the code itself.
    if (p.offline && status == 404 && resp.find("404103") != std::string::npos) {
      w.h.record(static_cast<std::uint64_t>(ns));
      ++w.ok;
      continue;
    }
    if (status != 200) {
      std::string code = json_string_after(resp, "errorCode");
      if (code.empty()) {
        long c = json_number_after(resp, "errorCode");
        if (c > 0) code = std::to_string(c);
      }
      ++w.errors["HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code)];
      continue;
    }
    if (resp.find("\"status\":200") == std::string::npos ||
        resp.find(std::string_view(body).substr(pad_at, p.pad.size())) == std::string::npos) {
      ++w.errors["200 without this call's echoed payload"];
      continue;
    }
    w.h.record(static_cast<std::uint64_t>(ns));
    ++w.ok;
  }
}

// Hub: POST /twins/{id}/methods with `echo` and a JSON payload of exactly `payload_bytes` bytes.
// With `offline`, the devices [first, first + devices) are registered but not connected: the
// expected answer is 404 with errorCode 404103, which then counts as the success.
worker_fn hub_invoker(std::uint16_t http_port, const std::string& auth,
                      const std::vector<std::string>& ids, std::size_t first, std::size_t devices,
                      std::size_t payload_bytes, bool offline = false,
                      ssl::context* tls = nullptr) {
  auto p = std::make_shared<invoke_params>();
  p->port = http_port;
  p->tls = tls;
  p->auth = auth;
  p->ids = &ids;
  p->first = first;
  p->devices = devices;
  p->pad = make_padding(payload_bytes > 8 ? payload_bytes - 8 : 1);
  p->body = "{\"methodName\":\"echo\",\"responseTimeoutInSeconds\":30,\"payload\":{\"d\":\"" +
            p->pad + "\"}}";
  p->offline = offline;
  return [p](worker_state& w, clk::time_point deadline) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, p->port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    if (p->tls) {
      ssl::stream<tcp::socket&> s(sock, *p->tls);
      co_await s.async_handshake(ssl::stream_base::client, use_awaitable);
      co_await invoke_loop(s, w, deadline, *p);
    } else {
      co_await invoke_loop(sock, w, deadline, *p);
    }
  };
}

// mosquitto: publish to req/<device> with "<reply topic>\n<seq>\n<padding>" (payload_bytes in
// all), wait for the same bytes on the reply topic.
worker_fn mqtt_requester(std::uint16_t port, const std::vector<std::string>& ids,
                         std::size_t devices, std::size_t payload_bytes) {
  return [=, &ids](worker_state& w, clk::time_point deadline) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    std::uintptr_t me = reinterpret_cast<std::uintptr_t>(&w);
    std::string reply = "rsp/" + std::to_string(me);
    mqtt::connect c;
    c.client_id = "bench-requester-" + std::to_string(me);
    c.clean_session = true;
    std::string in, out;
    co_await mqtt_handshake(sock, in, c, reply);
    std::mt19937_64 rng(me);
    std::uniform_int_distribution<std::size_t> pick(0, devices - 1);
    for (std::uint64_t seq = 0; seq < 100'000'000 && clk::now() < deadline; ++seq) {
      std::string payload = reply + "\n" + std::to_string(seq) + "\n";
      if (payload.size() < payload_bytes) payload += make_padding(payload_bytes - payload.size());
      out.clear();
      mqtt::encode_publish(out, "req/" + ids[pick(rng)], payload, 0, 0);
      auto t0 = clk::now();
      w.in_flight = true;
      co_await asio::async_write(sock, asio::buffer(out), use_awaitable);
      for (int k = 0;; ++k) {
        if (k > 1000) throw std::runtime_error("no matching reply in 1000 packets");
        auto p = co_await read_packet(sock, in);
        auto* pub = std::get_if<mqtt::publish>(&p);
        if (pub && pub->topic == reply && pub->payload == payload) break;
        if (pub && pub->topic == reply) ++w.errors["stale or wrong reply"];
      }
      w.in_flight = false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      w.h.record(static_cast<std::uint64_t>(ns));
      ++w.ok;
    }
  };
}

// Ceiling: write payload_bytes, read them back.
worker_fn echo_client(std::uint16_t port, std::size_t payload_bytes) {
  return [=](worker_state& w, clk::time_point deadline) -> awaitable<void> {
    tcp::socket sock(w.sl->strand);
    w.sl->sock = &sock;
    slot_guard g{*w.sl};
    if (w.sl->closing) co_return;
    co_await open_and_connect(sock, port, reinterpret_cast<std::uintptr_t>(&w) / 64, 4);
    std::string msg = make_padding(payload_bytes), back(payload_bytes, '\0');
    for (std::uint64_t n = 0; n < 100'000'000 && clk::now() < deadline; ++n) {
      auto t0 = clk::now();
      w.in_flight = true;
      co_await asio::async_write(sock, asio::buffer(msg), use_awaitable);
      co_await asio::async_read(sock, asio::buffer(back), use_awaitable);
      w.in_flight = false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      if (back != msg) {
        ++w.errors["echo mismatch"];
        continue;
      }
      w.h.record(static_cast<std::uint64_t>(ns));
      ++w.ok;
    }
  };
}

// ------------------------------------------------------------------------------------------------
// The echo server (ceiling), as its own process like the hub and mosquitto.

int echo_server_main(const fs::path& port_file, int threads) {
  asio::io_context ioc(threads);
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  {
    std::ofstream out(port_file.string() + ".tmp");
    out << acc.local_endpoint().port() << "\n";
  }
  fs::rename(port_file.string() + ".tmp", port_file);
  asio::signal_set sig(ioc, SIGINT, SIGTERM);
  sig.async_wait([&](auto, int) { ioc.stop(); });
  auto session = [](tcp::socket s) -> awaitable<void> {
    try {
      s.set_option(tcp::no_delay(true));
      std::array<char, 4096> buf;
      for (;;) {
        std::size_t n = co_await s.async_read_some(asio::buffer(buf), use_awaitable);
        co_await asio::async_write(s, asio::buffer(buf.data(), n), use_awaitable);
      }
    } catch (const std::exception&) {
    }
  };
  auto accept_loop = [&]() -> awaitable<void> {
    for (;;) {
      auto s = co_await acc.async_accept(asio::make_strand(ioc), use_awaitable);
      asio::co_spawn(s.get_executor(), session(std::move(s)), asio::detached);
    }
  };
  asio::co_spawn(ioc, accept_loop(), asio::detached);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}

// ------------------------------------------------------------------------------------------------
// The suite.

struct options {
  std::string hub_bin;
  std::string mosquitto_bin = "/usr/sbin/mosquitto";
  std::string self;
  std::size_t devices = 10000;
  std::vector<int> concurrency{64, 512};
  double duration = 10;
  int runs = 3;
  std::size_t payload = 100;
  double ramp = 2000;
  double tls_ramp = 100;  // TLS handshakes cost the hub far more CPU (at 500/s on a loaded machine
                          // most timed out)
  int threads = 2;
  int hub_threads = 0;
  int server_threads = 2;  // echo server
  std::size_t sources = 4;
  std::vector<std::size_t> footprint{10000, 0};  // 0 = the descriptor cap
  bool footprint_tls = true;
  bool tls_throughput = false;  // also run hub-tls: devices over MQTTS, invokers over HTTPS
  bool skip_hub = false, skip_mosquitto = false, skip_ceiling = false, skip_footprint = false;
  bool skip_offline = false;  // bench/soak: only the connected-device scenario
  bool keep = false;
  int watchdog = 3600;
  std::string work;
};

struct scenario_stats {
  std::string name;
  int concurrency = 0;
  std::vector<run_result> runs;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct summary {
  double rate = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, server_cpu = 0, bench_cpu = 0,
         other_cpu = 0;
  std::uint64_t errors = 0, ok = 0;
  std::map<std::string, std::uint64_t> error_kinds;
};

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

struct hub_process {
  pid_t pid = -1;
  std::uint16_t http = 0, https = 0, mqtt = 0, mqtts = 0;
};

hub_process start_hub(const options& o, const fs::path& data, const fs::path& log) {
  std::vector<std::string> argv{o.hub_bin,      "serve",     "--data-dir",      data.string(),
                                "--hostname",   "localhost", "--bind",          "127.0.0.1",
                                "--https-port", "0",         "--mqtt-port",     "0",
                                "--amqp-port",  "0",         "--mqtt-tcp-port", "0",
                                "--http-port",  "0",         "--log-level",     "warn"};
  if (o.hub_threads > 0) {
    argv.push_back("--threads");
    argv.push_back(std::to_string(o.hub_threads));
  }
  fs::remove(data / "listening.json");
  hub_process h;
  h.pid = spawn(argv, log);
  auto until = clk::now() + std::chrono::seconds(60);
  while (clk::now() < until) {
    if (!child_alive(h.pid))
      throw std::runtime_error("the hub exited at start; its log:\n" + tail_of(log));
    if (fs::exists(data / "listening.json")) {
      auto j = read_file(data / "listening.json");
      h.http = static_cast<std::uint16_t>(json_number_after(j, "http"));
      h.https = static_cast<std::uint16_t>(json_number_after(j, "https"));
      h.mqtt = static_cast<std::uint16_t>(json_number_after(j, "mqtt"));
      h.mqtts = static_cast<std::uint16_t>(json_number_after(j, "mqtts"));
      if (h.http && h.https && h.mqtt && h.mqtts) return h;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the hub did not write listening.json within 60 s; its log:\n" +
                           tail_of(log));
}

std::uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

void wait_port(std::uint16_t port, pid_t pid, const fs::path& log) {
  auto until = clk::now() + std::chrono::seconds(20);
  while (clk::now() < until) {
    if (!child_alive(pid))
      throw std::runtime_error("server exited at start; its log:\n" + tail_of(log));
    asio::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    if (!ec) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("server did not listen on " + std::to_string(port) + " within 20 s");
}

struct footprint_row {
  std::string transport;
  std::size_t target = 0, connected = 0, failed = 0;
  double seconds = 0;
  long rss_idle_kb = 0, rss_kb = 0;
  long sock_pages_before = 0, sock_pages = 0;
  long slab_before_kb = 0, slab_kb = 0;
  std::string failures;
};

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
  std::vector<scenario_stats> scenarios;
  auto run_scenario = [&](const std::string& name, pid_t server,
                          const std::function<worker_fn(void)>& make,
                          std::vector<int> concurrency = {}) {
    if (concurrency.empty()) concurrency = o.concurrency;
    for (int c : concurrency) {
      scenario_stats st;
      st.name = name;
      st.concurrency = c;
      for (int i = 0; i < o.runs; ++i) {
        st.runs.push_back(timed_run(ioc, c, o.duration, server, make()));
        print_run(name, c, i, st.runs.back());
        if (!child_alive(server)) throw std::runtime_error(name + ": the server process died");
      }
      scenarios.push_back(std::move(st));
    }
  };

  // ---- the hub: register every device once (the footprint hubs reuse the data dir).
  connect_report hub_connect, mosq_connect;
  double reg_s = 0;
  std::vector<std::string> tokens(ids.size());
  std::vector<footprint_row> foot;
  long hub_rss_empty = 0, hub_rss_after = 0;
  {
    auto hub = start_hub(o, data, work / "hub.log");
    hub_rss_empty = rss_kb(hub.pid);
    auto policies = read_file(data / "policies.json");
    auto at = policies.find("\"iothubowner\"");
    std::string owner_key =
        at == std::string::npos ? "" : json_string_after(policies, "primaryKey", at);
    if (owner_key.empty()) throw std::runtime_error("no iothubowner key in policies.json");
    std::int64_t expiry = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() +
                          86400;
    std::string auth = hub::codec::sas::make_token("localhost", owner_key, expiry, "iothubowner");
    std::vector<std::string> keys(ids.size());
    reg_s = register_devices(ioc, hub.http, auth, ids, keys, 16);
    for (std::size_t i = 0; i < ids.size(); ++i)
      tokens[i] = hub::codec::sas::make_token("localhost/devices/" + ids[i], keys[i], expiry);
    std::printf("  registered %zu devices in %.1f s (%.0f/s)\n", ids.size(), reg_s,
                static_cast<double>(ids.size()) / reg_s);
    std::fflush(stdout);

    if (!o.skip_hub) {
      device_set ds;
      ds.kind = peer_kind::hub;
      ds.port = hub.mqtt;
      ds.sources = o.sources;
      ds.tls_ctx = &tls_ctx;
      ds.ids = &ids;
      ds.tokens = &tokens;
      hub_connect = connect_devices(ioc, ds, 0, o.devices, o.ramp,
                                    60.0 + static_cast<double>(o.devices) / o.ramp * 3);
      std::printf("  hub: %zu/%zu devices connected in %.2f s (%zu failed)%s%s\n",
                  hub_connect.connected, hub_connect.target, hub_connect.seconds,
                  hub_connect.failed, hub_connect.failures.empty() ? "" : ": ",
                  hub_connect.failures.c_str());
      std::fflush(stdout);
      if (hub_connect.connected == 0)
        throw std::runtime_error("no device could connect to the hub");
      run_scenario("hub", hub.pid,
                   [&] { return hub_invoker(hub.http, auth, ids, 0, o.devices, o.payload); });
      // A call to a registered device that is not connected: answered 404103 by the hub alone.
      // Also at C=1: the issue's target is p99 < 1 ms for this answer, a latency, not a throughput.
      std::vector<int> offline_c{1};
      for (int c : o.concurrency)
        if (c != 1) offline_c.push_back(c);
      if (!o.skip_offline)
        run_scenario(
            "hub-offline", hub.pid,
            [&] {
              return hub_invoker(hub.http, auth, ids, o.devices, ids.size() - o.devices, o.payload,
                                 true);
            },
            offline_c);
      hub_rss_after = rss_kb(hub.pid);
      if (ds.dropped)
        std::printf("  hub: %zu devices dropped during the runs\n", ds.dropped.load());
      disconnect_devices(ds);
      if (o.tls_throughput) {
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
        std::printf("  hub TLS: %zu/%zu devices connected in %.2f s (%zu failed)%s%s\n",
                    rep.connected, rep.target, rep.seconds, rep.failed,
                    rep.failures.empty() ? "" : ": ", rep.failures.c_str());
        std::fflush(stdout);
        if (rep.connected > 0)
          run_scenario("hub-tls", hub.pid, [&] {
            return hub_invoker(hub.https, auth, ids, 0, o.devices, o.payload, false, &tls_ctx);
          });
        if (dt.dropped)
          std::printf("  hub TLS: %zu devices dropped during the runs\n", dt.dropped.load());
        disconnect_devices(dt);
      }
    }
    stop_child(hub.pid);
  }

  // ---- mosquitto, same devices on per-device topics.
  if (!o.skip_mosquitto) {
    std::uint16_t port = free_port();
    fs::path conf = work / "mosquitto.conf";
    {
      std::ofstream c(conf);
      c << "listener " << port
        << " 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\n"
        << "set_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\n";
    }
    pid_t mq = spawn({o.mosquitto_bin, "-c", conf.string()}, work / "mosquitto.log");
    try {
      wait_port(port, mq, work / "mosquitto.log");
      device_set ds;
      ds.kind = peer_kind::mosquitto;
      ds.port = port;
      ds.sources = o.sources;
      ds.ids = &ids;
      mosq_connect = connect_devices(ioc, ds, 0, o.devices, o.ramp,
                                     60.0 + static_cast<double>(o.devices) / o.ramp * 3);
      std::printf("  mosquitto: %zu/%zu devices connected in %.2f s (%zu failed)%s%s\n",
                  mosq_connect.connected, mosq_connect.target, mosq_connect.seconds,
                  mosq_connect.failed, mosq_connect.failures.empty() ? "" : ": ",
                  mosq_connect.failures.c_str());
      std::fflush(stdout);
      run_scenario("mosquitto", mq,
                   [&] { return mqtt_requester(port, ids, o.devices, o.payload); });
      disconnect_devices(ds);
    } catch (...) {
      stop_child(mq);
      throw;
    }
    stop_child(mq);
  }

  // ---- ceiling: TCP echo, its own process.
  if (!o.skip_ceiling) {
    fs::path pf = work / "echo.port";
    pid_t es = spawn({o.self, "echo-server", "--port-file", pf.string(), "--threads",
                      std::to_string(o.server_threads)},
                     work / "echo.log");
    try {
      auto until = clk::now() + std::chrono::seconds(20);
      while (!fs::exists(pf) && clk::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!fs::exists(pf)) throw std::runtime_error("echo server did not start");
      auto port = static_cast<std::uint16_t>(std::atoi(read_file(pf).c_str()));
      run_scenario("tcp-echo", es, [&] { return echo_client(port, o.payload); });
    } catch (...) {
      stop_child(es);
      throw;
    }
    stop_child(es);
  }

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
  std::printf(
      "\n| ratio | C | round trips/s | p50 | p99 | p99.9 |\n|---|---:|---:|---:|---:|---:|\n");
  for (int c : o.concurrency) {
    auto h = sums.find({"hub", c});
    if (h == sums.end()) continue;
    for (const char* other : {"mosquitto", "tcp-echo"}) {
      auto x = sums.find({other, c});
      if (x == sums.end() || x->second.rate == 0) continue;
      auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
      std::printf("| hub / %s | %d | %.2f | %.2f | %.2f | %.2f |\n", other, c,
                  div(h->second.rate, x->second.rate), div(h->second.p50, x->second.p50),
                  div(h->second.p99, x->second.p99), div(h->second.p999, x->second.p999));
    }
  }
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
      "         [--runs R] [--payload BYTES] [--ramp PER_S] [--tls-ramp PER_S] [--threads T] "
      "[--hub-threads T]\n"
      "         [--sources K] [--footprint 10000,cap] [--no-footprint-tls] [--skip-hub] "
      "[--skip-mosquitto] [--skip-offline]\n"
      "         [--tls (also hub-tls: devices over MQTTS at --tls-ramp, invokers over HTTPS)]\n"
      "         [--skip-ceiling] [--skip-footprint] [--mosquitto PATH] [--work DIR] [--keep] "
      "[--watchdog S]\n"
      "       methodhub-bench echo-server --port-file F [--threads T]");
}

}  // namespace

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
    if (o.devices == 0 || o.runs < 1 || o.duration <= 0 || o.threads < 1 || o.ramp <= 0 ||
        o.tls_ramp <= 0 || o.payload < 32)
      throw std::runtime_error(
          "bad option value (devices >= 1, runs >= 1, duration > 0, threads >= 1, payload >= 32)");
    int rc = suite_main(o);
    kill_children_now();
    return rc;
  } catch (const std::exception& e) {
    kill_children_now();
    std::fprintf(stderr, "methodhub-bench: %s\n", e.what());
    return 1;
  }
}
