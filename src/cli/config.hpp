#pragma once
// Where `methodhub serve` gets its serve_config: built-in defaults, then a TOML file (`--config`),
// then METHODHUB_* environment variables, then command-line flags, each overriding the one before.
//
// Every serve_config field has one name used in three spellings: `https_port` is the TOML key,
// `--https-port` the flag, METHODHUB_HTTPS_PORT the environment variable. Names: data_dir,
// hostname, https_port, mqtt_port, amqp_port, mqtt_tcp_port, amqp_tcp_port, http_port, bind,
// tls_cert, tls_key, log_format, log_level, threads, max_inflight_per_device, connect_deadline
// (seconds), max_http_body (bytes), print_connection_string, and the limits of docs/limits.md
// (max_connections, ..., throttle_burst). The opt-in ports (mqtt_tcp_port, amqp_tcp_port,
// http_port) also take `off`.
//
// Every error is a usage_error (exit 2) whose message names the setting, where it came from
// (flag, variable, or file:line) and what is allowed.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cli/client_support.hpp"
#include "cli/serve_config.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace hub::cli {

/// The `serve` flags exactly as typed, before precedence is applied.
struct serve_options {
  std::string config_file;                   // `--config` (or METHODHUB_CONFIG), empty = none
  std::map<std::string, std::string> flags;  // setting name (`https_port`) -> flag value
};

/// Registers `--config` and one flag per setting on `cmd`; parsed values land in `opts`, which
/// must outlive parsing.
void add_serve_options(CLI::App& cmd, serve_options& opts);

/// Looks up an environment variable; nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (std::getenv).
env_lookup process_env();

/// Applies the sources in precedence order to the defaults and validates the result.
serve_config resolve_serve_config(const serve_options& opts, const env_lookup& env);

/// Applies the keys of a TOML document to `cfg`. `source_name` is used in messages
/// (`<source_name>:<line>: ...`). Unknown keys, tables and wrong types are errors.
void apply_toml(serve_config& cfg, std::string_view toml_text, std::string_view source_name);

/// Applies one setting given as text (a flag or variable value). `origin` names it in messages,
/// e.g. `--https-port` or `METHODHUB_HTTPS_PORT`.
void apply_setting(serve_config& cfg, std::string_view name, std::string_view value,
                   std::string_view origin);

/// Checks the cross-field and enumerated rules: log_format text|json; log_level
/// trace|debug|info|warn|error; print_connection_string auto|always|never; tls_cert and tls_key
/// together; non-empty hostname, data_dir and bind; positive max_inflight_per_device,
/// connect_deadline and max_http_body; the floors of docs/limits.md (max_amqp_frame >= 512,
/// timeouts and sizes >= 1; throttle_burst needs a rate).
void validate(const serve_config& cfg);

}  // namespace hub::cli
