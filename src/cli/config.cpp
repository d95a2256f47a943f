#include "cli/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>
#include <variant>

namespace hub::cli {

namespace {

using port = std::uint16_t;
using optional_port = std::optional<std::uint16_t>;
using field = std::variant<std::filesystem::path serve_config::*, std::string serve_config::*,
                           port serve_config::*, optional_port serve_config::*,
                           unsigned serve_config::*, std::size_t serve_config::*>;

struct setting {
  std::string_view name;
  field member;
  std::string_view help;
};

// The single list of settings: flags, variables and TOML keys are all derived from it.
const auto settings = std::to_array<setting>({
    {"data_dir", &serve_config::data_dir, "Data directory (registry, keys, TLS material)"},
    {"hostname", &serve_config::hostname, "The hub's host name (localhost is always accepted)"},
    {"https_port", &serve_config::https_port, "HTTPS port: REST API (0 = any free port)"},
    {"mqtt_port", &serve_config::mqtt_port, "MQTT over TLS port (0 = any free port)"},
    {"amqp_port", &serve_config::amqp_port, "AMQP over TLS port (0 = any free port)"},
    {"mqtt_tcp_port", &serve_config::mqtt_tcp_port, "Plain MQTT port (opt-in; off by default)"},
    {"amqp_tcp_port", &serve_config::amqp_tcp_port, "Plain AMQP port (opt-in; off by default)"},
    {"http_port", &serve_config::http_port, "Plain HTTP REST port (opt-in; off by default)"},
    {"bind", &serve_config::bind_address, "Address to listen on"},
    {"tls_cert", &serve_config::tls_cert, "Server certificate chain, PEM (with --tls-key)"},
    {"tls_key", &serve_config::tls_key, "Server private key, PEM (with --tls-cert)"},
    {"log_format", &serve_config::log_format, "Log format: text or json"},
    {"log_level", &serve_config::log_level, "Log level: trace, debug, info, warn or error"},
    {"threads", &serve_config::threads, "I/O threads (0 = one per core)"},
    {"max_inflight_per_device", &serve_config::max_inflight_per_device,
     "Method calls in flight to one device before 403800"},
    {"connect_deadline", &serve_config::connect_deadline_seconds,
     "Seconds from accept to a valid MQTT CONNECT"},
    {"amqp_idle_timeout", &serve_config::amqp_idle_timeout_seconds,
     "Seconds of AMQP silence before a connection is closed (0 = never)"},
    {"max_http_body", &serve_config::max_http_body_bytes, "Largest REST request body, bytes"},
    {"print_connection_string", &serve_config::print_connection_string,
     "Print iothubowner's connection string to stdout at start: auto (if stdout is a terminal), "
     "always or never; it is never logged"},
    // Limits (docs/limits.md).
    {"max_connections", &serve_config::max_connections,
     "Open connections, all listeners (0 = open file limit - 64)"},
    {"max_connections_per_address", &serve_config::max_connections_per_address,
     "Open connections per source IP address (0 = no cap)"},
    {"tls_handshake_timeout", &serve_config::tls_handshake_timeout_seconds,
     "Seconds from accept to a finished TLS handshake"},
    {"max_http_header", &serve_config::max_http_header_bytes,
     "Largest REST request line and headers, bytes"},
    {"http_read_timeout", &serve_config::http_read_timeout_seconds,
     "Seconds for a whole REST request to arrive, from its first byte"},
    {"http_idle_timeout", &serve_config::http_idle_timeout_seconds,
     "Seconds a keep-alive connection may wait for its next request"},
    {"max_mqtt_packet", &serve_config::max_mqtt_packet_bytes, "Largest MQTT packet, bytes"},
    {"max_amqp_frame", &serve_config::max_amqp_frame_bytes, "AMQP max-frame-size, bytes (>= 512)"},
    {"max_subscriptions", &serve_config::max_subscriptions, "MQTT topic filters per session"},
    {"max_inflight_per_hub", &serve_config::max_inflight_per_hub,
     "Method calls in flight on the whole hub before 429002"},
    {"throttle_rate", &serve_config::throttle_rate,
     "Method calls per second per shared access policy before 429001 (0 = off)"},
    {"throttle_burst", &serve_config::throttle_burst,
     "Method calls a policy may make at once (0 = throttle_rate)"},
});

const setting* find_setting(std::string_view name) {
  for (const auto& s : settings) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string flag_name(std::string_view name) {
  std::string f = "--";
  for (char c : name) f += c == '_' ? '-' : c;
  return f;
}

std::string env_name(std::string_view name) {
  std::string e = "METHODHUB_";
  for (char c : name) e += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

std::string known_names() {
  std::string out;
  for (const auto& s : settings) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

template <class T>
constexpr std::string_view expected_text() {
  if constexpr (std::is_same_v<T, port>) {
    return "a port number 0..65535";
  } else if constexpr (std::is_same_v<T, optional_port>) {
    return "a port number 0..65535 or off";
  } else if constexpr (std::is_same_v<T, unsigned>) {
    return "a non-negative integer";
  } else if constexpr (std::is_same_v<T, std::size_t>) {
    return "a non-negative integer";
  } else {
    return "a string";
  }
}

template <class Int>
std::optional<Int> parse_uint(std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max) {
    return std::nullopt;
  }
  return static_cast<Int>(v);
}

template <class Int>
std::optional<Int> from_toml_int(std::int64_t v, std::uint64_t max) {
  if (v < 0 || static_cast<std::uint64_t>(v) > max) return std::nullopt;
  return static_cast<Int>(v);
}

[[noreturn]] void bad_value(std::string_view origin, std::string_view shown,
                            std::string_view expected) {
  throw usage_error(fmt::format("{}: invalid value {} (expected {})", origin, shown, expected));
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw usage_error(fmt::format("cannot read config file {}", p.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The limits of docs/limits.md that have a floor. 0 keeps its documented meaning where it has
// one (max_connections: derived; max_connections_per_address, throttle_*: off).
void validate_limits(const serve_config& cfg) {
  auto at_least = [](std::uint64_t v, std::uint64_t min, std::string_view name) {
    if (v < min) throw usage_error(fmt::format("{} must be >= {}", name, min));
  };
  at_least(cfg.tls_handshake_timeout_seconds, 1, "tls_handshake_timeout");
  at_least(cfg.max_http_header_bytes, 1, "max_http_header");
  if (cfg.max_http_header_bytes > std::numeric_limits<std::uint32_t>::max())
    throw usage_error("max_http_header must be < 4 GiB");
  at_least(cfg.http_read_timeout_seconds, 1, "http_read_timeout");
  at_least(cfg.http_idle_timeout_seconds, 1, "http_idle_timeout");
  at_least(cfg.max_mqtt_packet_bytes, 1, "max_mqtt_packet");
  // AMQP 1.0 §2.7.1: no peer may ask for frames smaller than MIN-MAX-FRAME-SIZE (512).
  at_least(cfg.max_amqp_frame_bytes, 512, "max_amqp_frame");
  at_least(cfg.max_subscriptions, 1, "max_subscriptions");
  at_least(cfg.max_inflight_per_hub, 1, "max_inflight_per_hub");
  if (cfg.throttle_burst != 0 && cfg.throttle_rate == 0)
    throw usage_error("throttle_burst needs throttle_rate (the throttle is off without a rate)");
}

}  // namespace

void apply_setting(serve_config& cfg, std::string_view name, std::string_view value,
                   std::string_view origin) {
  const setting* s = find_setting(name);
  if (s == nullptr) throw usage_error(fmt::format("{}: unknown setting '{}'", origin, name));
  const std::string shown = fmt::format("'{}'", value);
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(cfg.*member)>;
        T& target = cfg.*member;
        if constexpr (std::is_same_v<T, port>) {
          auto v = parse_uint<port>(value, 65535);
          if (!v) bad_value(origin, shown, expected_text<T>());
          target = *v;
        } else if constexpr (std::is_same_v<T, optional_port>) {
          if (value == "off") {
            target.reset();
            return;
          }
          auto v = parse_uint<port>(value, 65535);
          if (!v) bad_value(origin, shown, expected_text<T>());
          target = *v;
        } else if constexpr (std::is_same_v<T, unsigned> || std::is_same_v<T, std::size_t>) {
          auto v = parse_uint<T>(value, std::numeric_limits<T>::max());
          if (!v) bad_value(origin, shown, expected_text<T>());
          target = *v;
        } else {
          target = T(std::string(value));
        }
      },
      s->member);
}

void apply_toml(serve_config& cfg, std::string_view toml_text, std::string_view source_name) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    throw usage_error(
        fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description()));
  }
  for (const auto& entry : doc) {
    // Not a structured binding: lambdas below capture `node`, which clang < 16 refuses.
    const auto& key = entry.first;
    const auto& node = entry.second;
    const auto where = fmt::format("{}:{}", source_name, node.source().begin.line);
    const setting* s = find_setting(key.str());
    if (s == nullptr) {
      throw usage_error(
          fmt::format("{}: unknown key '{}' (known keys: {})", where, key.str(), known_names()));
    }
    const auto origin = fmt::format("{}: key '{}'", where, key.str());
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(cfg.*member)>;
          T& target = cfg.*member;
          auto wrong_type = [&] {
            std::ostringstream shown;
            if (auto i = node.template value_exact<std::int64_t>()) {
              shown << *i;
            } else {
              shown << "of type " << node.type();
            }
            bad_value(origin, shown.str(), expected_text<T>());
          };
          if constexpr (std::is_same_v<T, std::string> ||
                        std::is_same_v<T, std::filesystem::path>) {
            auto v = node.template value_exact<std::string>();
            if (!v) wrong_type();
            target = T(*v);
          } else if constexpr (std::is_same_v<T, optional_port>) {
            if (auto text = node.template value_exact<std::string>(); text && *text == "off") {
              target.reset();
              return;
            }
            auto i = node.template value_exact<std::int64_t>();
            std::optional<port> v = i ? from_toml_int<port>(*i, 65535) : std::nullopt;
            if (!v) wrong_type();
            target = *v;
          } else {
            auto i = node.template value_exact<std::int64_t>();
            std::uint64_t max = std::is_same_v<T, port> ? 65535 : std::numeric_limits<T>::max();
            std::optional<T> v = i ? from_toml_int<T>(*i, max) : std::nullopt;
            if (!v) wrong_type();
            target = *v;
          }
        },
        s->member);
  }
}

void validate(const serve_config& cfg) {
  if (cfg.hostname.empty()) throw usage_error("hostname must not be empty");
  if (cfg.data_dir.empty()) throw usage_error("data_dir must not be empty");
  if (cfg.bind_address.empty()) throw usage_error("bind must not be empty");
  if (cfg.log_format != "text" && cfg.log_format != "json") {
    throw usage_error(
        fmt::format("log_format: invalid value '{}' (expected text or json)", cfg.log_format));
  }
  constexpr std::array<std::string_view, 5> levels{"trace", "debug", "info", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end()) {
    throw usage_error(
        fmt::format("log_level: invalid value '{}' (expected trace, debug, info, warn or error)",
                    cfg.log_level));
  }
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    throw usage_error(
        "tls_cert and tls_key must be given together (or neither, to use the "
        "certificate generated in the data directory)");
  }
  if (cfg.max_inflight_per_device == 0) throw usage_error("max_inflight_per_device must be >= 1");
  if (cfg.connect_deadline_seconds == 0) throw usage_error("connect_deadline must be >= 1");
  if (cfg.max_http_body_bytes == 0) throw usage_error("max_http_body must be >= 1");
  if (cfg.print_connection_string != "auto" && cfg.print_connection_string != "always" &&
      cfg.print_connection_string != "never") {
    throw usage_error(
        fmt::format("print_connection_string: invalid value '{}' (expected auto, always or never)",
                    cfg.print_connection_string));
  }
  validate_limits(cfg);
}

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

serve_config resolve_serve_config(const serve_options& opts, const env_lookup& env) {
  serve_config cfg;
  std::string config_file = opts.config_file;
  if (config_file.empty()) {
    if (auto v = env("METHODHUB_CONFIG")) config_file = *v;
  }
  if (!config_file.empty()) apply_toml(cfg, read_file(config_file), config_file);
  for (const auto& s : settings) {
    const auto var = env_name(s.name);
    if (auto v = env(var)) apply_setting(cfg, s.name, *v, var);
  }
  for (const auto& [name, value] : opts.flags) apply_setting(cfg, name, value, flag_name(name));
  validate(cfg);
  return cfg;
}

void add_serve_options(CLI::App& cmd, serve_options& opts) {
  cmd.add_option("--config", opts.config_file,
                 "TOML file of settings (keys as the flags, with underscores; env "
                 "METHODHUB_CONFIG)")
      ->type_name("FILE");
  const serve_config defaults;
  for (const auto& s : settings) {
    std::string shown = std::visit(
        [&](auto member) -> std::string {
          const auto& v = defaults.*member;
          using T = std::remove_cvref_t<decltype(v)>;
          if constexpr (std::is_same_v<T, optional_port>) {
            return v ? std::to_string(*v) : "off";
          } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
            return v.string();
          } else if constexpr (std::is_same_v<T, std::string>) {
            return v;
          } else {
            return std::to_string(v);
          }
        },
        s.member);
    std::string_view type = std::visit(
        [](auto member) -> std::string_view {
          using T = std::remove_reference_t<decltype(std::declval<serve_config&>().*member)>;
          if constexpr (std::is_same_v<T, port>) {
            return "PORT";
          } else if constexpr (std::is_same_v<T, optional_port>) {
            return "PORT|off";
          } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
            return "PATH";
          } else if constexpr (std::is_same_v<T, std::string>) {
            return "TEXT";
          } else {
            return "N";
          }
        },
        s.member);
    std::string name(s.name);
    cmd.add_option_function<std::string>(
           flag_name(s.name), [&opts, name](const std::string& v) { opts.flags[name] = v; },
           fmt::format("{} (env {})", s.help, env_name(s.name)))
        ->type_name(std::string(type))
        ->default_str(shown);
  }
}

}  // namespace hub::cli
