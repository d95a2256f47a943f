#pragma once
// The client subcommands: `device`, `module`, `connection-string`, `invoke` (talk to a running hub
// over its REST API with a service connection string, like `az iot hub`) and `sas` (local only).
//
// Shared flags on each networked command: `--connection-string` (env
// METHODHUB_CONNECTION_STRING), `--hub-url` (env METHODHUB_URL; default https://<HostName>:443),
// `--ca` (env METHODHUB_CA; PEM trusted in addition to the system store).
//
// Results go to stdout (JSON pretty-printed with 2-space indent); errors are thrown as
// usage_error (exit 2) or client_error (exit 1), see client_support.hpp.

#include <functional>

namespace CLI {
class App;
}  // namespace CLI

namespace hub::cli {

/// Adds the client subcommands to `app`. When one of them is selected by parsing, `run` is set
/// to the action, which returns the exit code or throws; the caller runs it after parsing so
/// that usage errors and run errors are reported separately.
void add_client_commands(CLI::App& app, std::function<int()>& run);

}  // namespace hub::cli
