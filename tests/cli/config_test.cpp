#include "cli/config.hpp"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <map>

namespace hub::cli {
namespace {

env_lookup env_from(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ServeConfig, DefaultsWhenNothingGiven) {
  auto cfg = resolve_serve_config({}, env_from({}));
  serve_config d;
  EXPECT_EQ(cfg.https_port, d.https_port);
  EXPECT_EQ(cfg.hostname, d.hostname);
  EXPECT_FALSE(cfg.mqtt_tcp_port);
}

TEST(ServeConfig, TomlKeysAndTypes) {
  serve_config cfg;
  apply_toml(cfg,
             "hostname = \"hub.lan\"\nhttps_port = 8443\nmqtt_tcp_port = 1883\n"
             "http_port = \"off\"\ndata_dir = \"/var/lib/mh\"\nbind = \"::\"\n"
             "max_http_body = 1048576\nconnect_deadline = 10\n",
             "hub.toml");
  EXPECT_EQ(cfg.hostname, "hub.lan");
  EXPECT_EQ(cfg.https_port, 8443);
  EXPECT_EQ(cfg.mqtt_tcp_port, 1883);
  EXPECT_FALSE(cfg.http_port);
  EXPECT_EQ(cfg.data_dir, "/var/lib/mh");
  EXPECT_EQ(cfg.bind_address, "::");
  EXPECT_EQ(cfg.max_http_body_bytes, 1048576u);
  EXPECT_EQ(cfg.connect_deadline_seconds, 10u);
}

TEST(ServeConfig, LimitsFromEachSource) {
  // One limit per source, so each spelling (TOML key, variable, flag) is exercised.
  serve_config cfg;
  apply_toml(cfg,
             "max_connections = 5000\nmax_connections_per_address = 0\nmax_http_header = 8192\n"
             "http_read_timeout = 5\nhttp_idle_timeout = 60\nmax_mqtt_packet = 4096\n"
             "max_amqp_frame = 512\nmax_subscriptions = 5\nmax_inflight_per_hub = 7\n"
             "throttle_rate = 40\nthrottle_burst = 80\ntls_handshake_timeout = 3\n",
             "hub.toml");
  validate(cfg);
  EXPECT_EQ(cfg.max_connections, 5000u);
  EXPECT_EQ(cfg.max_connections_per_address, 0u);
  EXPECT_EQ(cfg.max_http_header_bytes, 8192u);
  EXPECT_EQ(cfg.http_read_timeout_seconds, 5u);
  EXPECT_EQ(cfg.http_idle_timeout_seconds, 60u);
  EXPECT_EQ(cfg.max_mqtt_packet_bytes, 4096u);
  EXPECT_EQ(cfg.max_amqp_frame_bytes, 512u);
  EXPECT_EQ(cfg.max_subscriptions, 5u);
  EXPECT_EQ(cfg.max_inflight_per_hub, 7u);
  EXPECT_EQ(cfg.throttle_rate, 40u);
  EXPECT_EQ(cfg.throttle_burst, 80u);
  EXPECT_EQ(cfg.tls_handshake_timeout_seconds, 3u);

  serve_options opts;
  opts.flags["max_inflight_per_hub"] = "9";
  auto resolved = resolve_serve_config(
      opts, env_from({{"METHODHUB_THROTTLE_RATE", "3"}, {"METHODHUB_MAX_INFLIGHT_PER_HUB", "8"}}));
  EXPECT_EQ(resolved.throttle_rate, 3u);
  EXPECT_EQ(resolved.max_inflight_per_hub, 9u);
}

TEST(ServeConfig, LimitFloors) {
  auto refused = [](const char* name, const char* value) {
    serve_options opts;
    opts.flags[name] = value;
    return error_of([&] { resolve_serve_config(opts, env_from({})); });
  };
  EXPECT_NE(refused("max_amqp_frame", "511").find("max_amqp_frame must be >= 512"),
            std::string::npos);
  EXPECT_NE(refused("http_read_timeout", "0").find("http_read_timeout"), std::string::npos);
  EXPECT_NE(refused("max_inflight_per_hub", "0").find("max_inflight_per_hub"), std::string::npos);
  EXPECT_NE(refused("throttle_burst", "5").find("throttle_rate"), std::string::npos);
  EXPECT_EQ(refused("max_connections", "0"), "no error");  // 0: derived from the open file limit
}

TEST(ServeConfig, TomlErrorsNameKeyAndLine) {
  serve_config cfg;
  auto unknown = error_of([&] { apply_toml(cfg, "hostname = \"h\"\nhttp_prot = 1\n", "f.toml"); });
  EXPECT_NE(unknown.find("f.toml:2"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("http_prot"), std::string::npos) << unknown;

  auto type = error_of([&] { apply_toml(cfg, "\n\nhttps_port = \"443\"\n", "f.toml"); });
  EXPECT_NE(type.find("f.toml:3"), std::string::npos) << type;
  EXPECT_NE(type.find("https_port"), std::string::npos) << type;

  auto range = error_of([&] { apply_toml(cfg, "mqtt_port = 70000\n", "f.toml"); });
  EXPECT_NE(range.find("70000"), std::string::npos) << range;

  auto syntax = error_of([&] { apply_toml(cfg, "a = = 1\n", "f.toml"); });
  EXPECT_NE(syntax.find("f.toml:1"), std::string::npos) << syntax;

  auto table = error_of([&] { apply_toml(cfg, "[tls]\ncert = \"x\"\n", "f.toml"); });
  EXPECT_NE(table.find("'tls'"), std::string::npos) << table;
}

TEST(ServeConfig, FlagsBeatEnvBeatToml) {
  auto dir = std::filesystem::temp_directory_path() / "methodhub_config_test";
  std::filesystem::create_directories(dir);
  auto file = dir / "hub.toml";
  {
    std::ofstream out(file);
    out << "https_port = 1001\nmqtt_port = 1002\namqp_port = 1003\n";
  }
  serve_options opts;
  opts.config_file = file.string();
  opts.flags["https_port"] = "3001";
  auto cfg = resolve_serve_config(
      opts, env_from({{"METHODHUB_HTTPS_PORT", "2001"}, {"METHODHUB_MQTT_PORT", "2002"}}));
  EXPECT_EQ(cfg.https_port, 3001);  // flag
  EXPECT_EQ(cfg.mqtt_port, 2002);   // env over TOML
  EXPECT_EQ(cfg.amqp_port, 1003);   // TOML over default
  std::filesystem::remove_all(dir);
}

TEST(ServeConfig, ConfigFileFromEnvAndMissingFile) {
  serve_options opts;
  auto e = error_of([&] {
    resolve_serve_config(opts, env_from({{"METHODHUB_CONFIG", "/nonexistent/hub.toml"}}));
  });
  EXPECT_NE(e.find("/nonexistent/hub.toml"), std::string::npos) << e;
}

TEST(ServeConfig, EnvValuesAreChecked) {
  auto e = error_of([&] {
    resolve_serve_config({}, env_from({{"METHODHUB_HTTPS_PORT", "https"}}));
  });
  EXPECT_NE(e.find("METHODHUB_HTTPS_PORT"), std::string::npos) << e;
}

TEST(ServeConfig, Validation) {
  auto with = [](std::map<std::string, std::string> flags) {
    serve_options o;
    o.flags = std::move(flags);
    return error_of([&] { resolve_serve_config(o, env_from({})); });
  };
  EXPECT_NE(with({{"log_format", "xml"}}).find("log_format"), std::string::npos);
  EXPECT_NE(with({{"log_level", "loud"}}).find("log_level"), std::string::npos);
  EXPECT_NE(with({{"tls_cert", "c.pem"}}).find("together"), std::string::npos);
  EXPECT_NE(with({{"hostname", ""}}).find("hostname"), std::string::npos);
  EXPECT_NE(with({{"print_connection_string", "yes"}}).find("print_connection_string"),
            std::string::npos);
  for (const char* v : {"auto", "always", "never"})
    EXPECT_EQ(with({{"print_connection_string", v}}), "no error") << v;
  EXPECT_NE(with({{"https_port", "-1"}}).find("--https-port"), std::string::npos);
  EXPECT_NE(with({{"https_port", "65536"}}).find("--https-port"), std::string::npos);
  EXPECT_EQ(with({{"https_port", "0"}, {"mqtt_tcp_port", "off"}, {"log_level", "debug"}}),
            "no error");
}

TEST(ServeConfig, CliFlagsRegistered) {
  CLI::App app;
  serve_options opts;
  add_serve_options(app, opts);
  const char* argv[] = {"serve", "--https-port", "8443",      "--mqtt-tcp-port",
                        "1883",  "--bind",       "127.0.0.1", "--max-inflight-per-device",
                        "5",     "--config",     "x.toml"};
  app.parse(static_cast<int>(std::size(argv)), const_cast<char**>(argv));
  EXPECT_EQ(opts.config_file, "x.toml");
  EXPECT_EQ(opts.flags.at("https_port"), "8443");
  EXPECT_EQ(opts.flags.at("mqtt_tcp_port"), "1883");
  EXPECT_EQ(opts.flags.at("bind"), "127.0.0.1");
  EXPECT_EQ(opts.flags.at("max_inflight_per_device"), "5");
  EXPECT_EQ(opts.flags.count("mqtt_port"), 0u);
}

}  // namespace
}  // namespace hub::cli
