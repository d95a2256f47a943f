// `methodhub`: the hub (`serve`) and its command-line client, in one binary.
//
// Exit codes: 0 success; 1 an error from the hub or the network, or the hub failing at run time;
// 2 a usage error (bad flags, bad configuration, bad connection string or payload).

#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <iostream>

#include "cli/client_commands.hpp"
#include "cli/client_support.hpp"
#include "cli/config.hpp"
#include "cli/serve.hpp"

namespace {

// Keep in step with project(VERSION) in the top-level CMakeLists.txt.
constexpr const char* version_text = "methodhub 0.1.0";

constexpr int exit_error = 1;
constexpr int exit_usage = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace hub::cli;

  CLI::App app{"methodhub: a self-hosted hub for Azure IoT Hub direct methods", "methodhub"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(1);

  std::function<int()> run;

  serve_options serve_opts;
  auto* serve = app.add_subcommand("serve", "Run the hub in the foreground");
  add_serve_options(*serve, serve_opts);
  serve->final_callback([&] {
    run = [&] {
      auto cfg = resolve_serve_config(serve_opts, process_env());
      try {
        return run_serve(cfg);
      } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return exit_error;
      }
    };
  });

  add_client_commands(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "errors" with exit code 0.
    int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }

  if (!run) {
    std::cerr << app.help();
    return exit_usage;
  }
  try {
    return run();
  } catch (const usage_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_usage;
  } catch (const client_error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_error;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_error;
  }
}
