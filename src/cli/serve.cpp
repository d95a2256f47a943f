#include "cli/serve.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "api/routes.hpp"
#include "cli/logging.hpp"
#include "cli/run_io.hpp"
#include "cli/stop_signals.hpp"
#include "cluster/local/local_router.hpp"
#include "codec/json/json_scan.hpp"
#include "core/auth.hpp"
#include "core/invoker.hpp"
#include "core/registry.hpp"
#include "store/sqlite/sqlite_registry.hpp"
#include "transport/amqp_session.hpp"
#include "transport/certificates.hpp"
#include "transport/http_session.hpp"
#include "transport/listener.hpp"
#include "transport/mqtt_session.hpp"
#include "transport/tls_context.hpp"

namespace hub::cli {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// A hub serving many devices needs many descriptors: take the whole hard limit. Returns the
// limit in force (0 if unknown).
rlim_t raise_descriptor_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  rlim_t before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) lim.rlim_cur = before;
  }
  spdlog::info("open file limit: {} (was {}); each connected device uses one", lim.rlim_cur,
               before);
  return lim.rlim_cur == RLIM_INFINITY ? 0 : lim.rlim_cur;
}

// Descriptors the hub keeps for itself (listeners, epoll, the registry, logs): max_connections
// by default is the open file limit minus these, so connections are refused by the gate, with
// a clear warning, before accept() itself runs out of descriptors.
constexpr rlim_t reserved_descriptors = 64;

transport::connection_limits connection_limits_for(const serve_config& cfg, rlim_t open_files) {
  transport::connection_limits lim;
  lim.max_per_address = cfg.max_connections_per_address;
  if (cfg.max_connections != 0) {
    lim.max_total = cfg.max_connections;
  } else if (open_files > 2 * reserved_descriptors) {
    lim.max_total = open_files - reserved_descriptors;
    lim.total_note = fmt::format(
        ", the open file limit {} minus {}; raise `ulimit -n` or set "
        "--max-connections",
        open_files, reserved_descriptors);
  } else if (open_files != 0) {
    lim.max_total = open_files / 2;
    lim.total_note = fmt::format(", half the open file limit {}; raise `ulimit -n`", open_files);
  }
  return lim;
}

// Under a file-size limit (RLIMIT_FSIZE) a write past it must fail with EFBIG, which the store
// answers as a storage error (503), rather than kill the hub with SIGXFSZ's default action.
void ignore_file_size_signal() {
  std::signal(SIGXFSZ, SIG_IGN);
}

// Written once every listener is bound: tests and scripts wait for it rather than for a log line.
void write_listening_file(const fs::path& path,
                          const std::vector<std::pair<std::string, std::uint16_t>>& ports,
                          const std::string& hostname, const fs::path& ca) {
  std::string json = "{\"pid\":" + std::to_string(::getpid()) + ",\"hostname\":";
  codec::json::append_escaped(json, hostname);
  for (const auto& [name, port] : ports) {
    json += ",";
    codec::json::append_escaped(json, name);
    json += ":" + std::to_string(port);
  }
  json += ",\"ca\":";
  codec::json::append_escaped(json, ca.string());
  json += "}\n";
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

// Keys never go through the logger: logs are shipped, stored and shown to people who should
// not hold the hub's keys. A person at a terminal gets the connection string printed once.
void announce_connection_string(const serve_config& cfg, const policy_set& policies,
                                const fs::path& data_dir) {
  const auto* owner = policies.find("iothubowner");
  if (owner == nullptr) return;
  const bool print = cfg.print_connection_string == "always" ||
                     (cfg.print_connection_string == "auto" && ::isatty(STDOUT_FILENO) == 1);
  if (print) {
    std::fflush(stdout);
    fmt::print(stdout, "iothubowner connection string: {}\n",
               service_connection_string(*owner, cfg.hostname));
    std::fflush(stdout);
  }
  spdlog::info(
      "iothubowner connection string: {}on this machine, `methodhub connection-string --policy "
      "iothubowner --data-dir {}` prints it (keys are never logged)",
      print ? "printed above; " : "", data_dir.string());
}

// Secrets readable by other local users are a finding, but the operator may share a key file
// with a group on purpose: say so, do not refuse.
void warn_if_others_can_access(const fs::path& p, std::string_view what) {
  std::error_code ec;
  const auto st = fs::status(p, ec);
  if (ec) return;  // the loader reports a missing file with its own message
  constexpr auto others = fs::perms::group_all | fs::perms::others_all;
  if ((st.permissions() & others) != fs::perms::none)
    spdlog::warn("{} {} is accessible to other users (mode {:o}); chmod {} it", what, p.string(),
                 static_cast<unsigned>(st.permissions()), fs::is_directory(st) ? "700" : "600");
}

}  // namespace

int run_serve(const serve_config& cfg) {
  stop_signals signals;  // first: before any thread is started (the registry's store worker is one)
  setup_logging(cfg.log_format, cfg.log_level);
  const auto open_files = raise_descriptor_limit();
  ignore_file_size_signal();

  std::error_code fec;
  const bool fresh = !fs::exists(cfg.data_dir, fec);
  fs::create_directories(cfg.data_dir, fec);
  if (fec)
    throw std::runtime_error("cannot create data directory " + cfg.data_dir.string() + ": " +
                             fec.message());
  auto data_dir = fs::absolute(cfg.data_dir);
  // The directory holds every key the hub has: only its owner may enter it.
  if (fresh) fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, fec);
  warn_if_others_can_access(data_dir, "data directory");

  auto policies = load_or_create_policies(data_dir, cfg.hostname);
  fs::path ca_path, chain_path, key_path;
  if (!cfg.tls_cert.empty()) {
    chain_path = cfg.tls_cert;
    key_path = cfg.tls_key;
    warn_if_others_can_access(key_path, "TLS private key");
  } else {
    auto files = transport::ensure_certificates(data_dir, cfg.hostname);
    ca_path = files.ca_cert;
    chain_path = files.server_chain;
    key_path = files.server_key;
    if (files.generated)
      spdlog::info("generated a TLS CA and server certificate in {}", (data_dir / "tls").string());
  }
  auto tls = transport::make_server_tls_context(chain_path, key_path);

  unsigned threads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(static_cast<int>(threads));
  auto core = asio::make_strand(ioc);

  registry reg(core, store::sqlite_registry::open(data_dir / "registry.db"));
  cluster::local_router router(core, {cfg.max_inflight_per_device, cfg.max_inflight_per_hub});
  invoker inv(reg, router, {cfg.throttle_rate, cfg.throttle_burst});
  api::services svc{reg, inv, policies,
                    [&router](const identity_key& k) { return router.is_connected(k); }};
  service_token_cache verified_tokens;  // the same token on every REST call is checked once
  svc.verified_tokens = &verified_tokens;
  svc.metrics = [&reg, &router] {
    return fmt::format(
        "# HELP methodhub_identities Devices and modules in the registry.\n"
        "# TYPE methodhub_identities gauge\nmethodhub_identities {}\n"
        "# HELP methodhub_connected_links Identities with a live device link.\n"
        "# TYPE methodhub_connected_links gauge\nmethodhub_connected_links {}\n"
        "# HELP methodhub_pending_calls Method calls waiting for a device's answer.\n"
        "# TYPE methodhub_pending_calls gauge\nmethodhub_pending_calls {}\n"
        "# HELP methodhub_waiting_calls Method calls waiting for their device to connect.\n"
        "# TYPE methodhub_waiting_calls gauge\nmethodhub_waiting_calls {}\n"
        "# HELP methodhub_telemetry_messages_total Telemetry PUBLISHes acknowledged and "
        "discarded.\n"
        "# TYPE methodhub_telemetry_messages_total counter\nmethodhub_telemetry_messages_total "
        "{}\n",
        reg.size(), router.connected_links(), router.pending_calls(), router.waiting_calls(),
        transport::mqtt_telemetry_messages());
  };

  const std::chrono::seconds handshake_timeout(cfg.tls_handshake_timeout_seconds);
  transport::http_limits http_limits;
  http_limits.max_body_bytes = cfg.max_http_body_bytes;
  http_limits.max_header_bytes = cfg.max_http_header_bytes;
  http_limits.handshake_timeout = handshake_timeout;
  http_limits.read_timeout = std::chrono::seconds(cfg.http_read_timeout_seconds);
  http_limits.idle_timeout = std::chrono::seconds(cfg.http_idle_timeout_seconds);
  transport::mqtt_limits mqtt_limits;
  mqtt_limits.connect_deadline = std::chrono::seconds(cfg.connect_deadline_seconds);
  mqtt_limits.handshake_timeout = handshake_timeout;
  mqtt_limits.max_packet_bytes = cfg.max_mqtt_packet_bytes;
  mqtt_limits.max_subscriptions = cfg.max_subscriptions;
  transport::mqtt_services mqtt_svc{reg, router, policies, {}};
  // Core strand. A disabled identity is only kicked; a deleted one also loses its MQTT session.
  reg.on_revoked([&](const identity_key& who) {
    router.revoke(who);
    if (!reg.find(who)) mqtt_svc.sessions.forget(who);
  });
  transport::amqp_limits amqp_limits;
  amqp_limits.auth_deadline = std::chrono::seconds(cfg.connect_deadline_seconds);
  amqp_limits.idle_timeout = std::chrono::seconds(cfg.amqp_idle_timeout_seconds);
  amqp_limits.handshake_timeout = handshake_timeout;
  amqp_limits.max_frame_size = cfg.max_amqp_frame_bytes;
  transport::amqp_services amqp_svc{reg, router, policies};

  transport::websocket_heads ws_heads{&mqtt_svc, &mqtt_limits, &amqp_svc, &amqp_limits};

  // One gate for every listener: the connection limits count all protocols together.
  auto gate = transport::connection_gate::create(ioc, connection_limits_for(cfg, open_files));
  spdlog::info(
      "connection limits: {} in total{}, {} per source address",
      gate->limits().max_total ? std::to_string(gate->limits().max_total) : "no cap",
      gate->limits().total_note.empty() ? "" : " (open file limit minus the hub's own)",
      gate->limits().max_per_address ? std::to_string(gate->limits().max_per_address) : "no cap");
  svc.metrics = [base = std::move(svc.metrics), gate] {
    return base() + fmt::format(
                        "# HELP methodhub_connections Connections open, all listeners.\n"
                        "# TYPE methodhub_connections gauge\nmethodhub_connections {}\n"
                        "# HELP methodhub_connections_refused_total Connections closed at accept "
                        "by max_connections or max_connections_per_address.\n"
                        "# TYPE methodhub_connections_refused_total counter\n"
                        "methodhub_connections_refused_total {}\n",
                        gate->open(), gate->refused());
  };

  using transport::connection_ticket;
  std::vector<std::unique_ptr<transport::listener>> listeners;
  auto add = [&](std::string name, std::uint16_t port, transport::session_starter start) {
    listeners.push_back(std::make_unique<transport::listener>(
        ioc, std::move(name), cfg.bind_address, port, std::move(start), gate));
  };
  add("https", cfg.https_port, [&, tls](asio::ip::tcp::socket s, connection_ticket t) {
    transport::start_http_session(std::move(s), tls, svc, http_limits, ws_heads, std::move(t));
  });
  if (cfg.http_port)
    add("http", *cfg.http_port, [&](asio::ip::tcp::socket s, connection_ticket t) {
      transport::start_http_session(std::move(s), nullptr, svc, http_limits, ws_heads,
                                    std::move(t));
    });
  add("mqtts", cfg.mqtt_port, [&, tls](asio::ip::tcp::socket s, connection_ticket t) {
    transport::start_mqtt_session(std::move(s), tls, mqtt_svc, mqtt_limits, std::move(t));
  });
  if (cfg.mqtt_tcp_port)
    add("mqtt", *cfg.mqtt_tcp_port, [&](asio::ip::tcp::socket s, connection_ticket t) {
      transport::start_mqtt_session(std::move(s), nullptr, mqtt_svc, mqtt_limits, std::move(t));
    });
  add("amqps", cfg.amqp_port, [&, tls](asio::ip::tcp::socket s, connection_ticket t) {
    transport::start_amqp_session(std::move(s), tls, amqp_svc, amqp_limits, std::move(t));
  });
  if (cfg.amqp_tcp_port)
    add("amqp", *cfg.amqp_tcp_port, [&](asio::ip::tcp::socket s, connection_ticket t) {
      transport::start_amqp_session(std::move(s), nullptr, amqp_svc, amqp_limits, std::move(t));
    });

  std::vector<std::pair<std::string, std::uint16_t>> bound;
  for (auto& l : listeners) {
    l->run();
    bound.emplace_back(l->name(), l->port());
    spdlog::info("listening: {} on {}:{}", l->name(), cfg.bind_address, l->port());
  }
  if (!ca_path.empty())
    spdlog::info("TLS CA (give it to clients, e.g. NODE_EXTRA_CA_CERTS): {}", ca_path.string());
  spdlog::info("registry: {} ({} identities)", (data_dir / "registry.db").string(), reg.size());
  announce_connection_string(cfg, policies, data_dir);

  // SIGTERM/SIGINT: stop accepting; answer every call in flight (503001) and close every device
  // connection (the SDKs reconnect); give those answers and closes a moment to go out, then stop.
  // A second signal stops at once.
  asio::steady_timer stop_grace(ioc);
  int signals_received = 0;  // touched only by the signal thread
  signals.on([&](int sig) {
    if (++signals_received > 1) return ioc.stop();
    asio::post(ioc, [&, sig] {
      spdlog::info("signal {} received: shutting down", sig);
      for (auto& l : listeners) l->close();
      asio::post(core, [&] {
        auto ended = router.shut_down(errc::service_unavailable);
        if (ended) spdlog::info("answered or closed {} calls and device links", ended);
        stop_grace.expires_after(ended ? std::chrono::seconds(1) : std::chrono::seconds(0));
        stop_grace.async_wait([&](boost::system::error_code) { ioc.stop(); });
      });
    });
  });
  // The handler refers to this scope's objects: no signal may reach it once they start to go.
  struct stop_taking_signals {
    stop_signals& s;
    ~stop_taking_signals() { s.stop(); }
  } stop_taking_signals_on_exit{signals};

  // Only now: whoever waits for this file (a supervisor, the tests) may signal the hub at once,
  // and SIGTERM must then find the handler above, not its default action (seen under TSan,
  // whose slower start-up widened the gap).
  auto listening = data_dir / "listening.json";
  write_listening_file(listening, bound, cfg.hostname, ca_path);

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { run_io(ioc); });
  run_io(ioc);
  for (auto& t : pool) t.join();

  fs::remove(listening, fec);
  spdlog::info("stopped");
  return 0;
}

}  // namespace hub::cli
