#include "cli/client_commands.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/client_support.hpp"
#include "cli/http_client.hpp"
#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"

namespace hub::cli {

namespace json = boost::json;

namespace {

// Registry calls answer at once; anything slower than this means something is wrong.
constexpr std::chrono::seconds registry_timeout{30};
// Like the C# SDK (spec §1.8): the method's own timeouts plus a margin for the hub's answer.
constexpr std::chrono::seconds invoke_margin{15};

/// Everything any client subcommand can be given; only the selected one's fields are set.
struct client_state {
  std::string data_dir;
  std::string connection_string;
  std::string hub_url;
  std::string ca;
  std::string device;
  std::string module;
  std::string primary_key;
  std::string secondary_key;
  bool disabled = false;
  std::string key_choice = "primary";
  // invoke
  std::string method;
  std::string payload = "null";
  int response_timeout = 30;
  int connect_timeout = 0;
  // sas
  std::string key;
  std::string resource;
  std::string policy;
  std::int64_t ttl = 3600;
};

// The variables are read here rather than with CLI11's envname: CLI11 also applies envname to
// subcommands that were not selected, and those share client_state, so a variable would
// overwrite the flag given to the selected command.
std::string flag_or_env(const std::string& flag, const char* variable) {
  if (!flag.empty()) return flag;
  const char* v = std::getenv(variable);
  return v != nullptr ? v : "";
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// What a hub running on this machine left in its data directory: enough to reach it with no
/// flags at all (a policy's connection string, iothubowner's by default; its HTTPS port; its CA).
/// Empty fields when the directory has no running hub's files. The host name comes from
/// listening.json, `localhost` when the hub is not running.
struct local_hub {
  std::string connection_string;
  std::string url;
  std::string ca;
};

local_hub find_local_hub(const std::string& data_dir, std::string_view policy = "iothubowner") {
  namespace fs = std::filesystem;
  local_hub out;
  auto read = [](const fs::path& p) -> boost::json::value {
    std::ifstream in(p);
    if (!in) return nullptr;
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = boost::json::parse(text.str(), ec);
    return ec ? boost::json::value(nullptr) : v;
  };
  const fs::path dir(data_dir);
  auto listening = read(dir / "listening.json");
  auto policies = read(dir / "policies.json");
  std::string host = "localhost";
  if (const auto* l = listening.if_object()) {
    if (const auto* h = l->if_contains("hostname"); h && h->is_string())
      host = std::string(h->get_string());
    if (const auto* p = l->if_contains("https"); p && p->is_int64())
      out.url = "https://localhost:" + std::to_string(p->get_int64());
    else if (const auto* q = l->if_contains("http"); q && q->is_int64())
      out.url = "http://localhost:" + std::to_string(q->get_int64());
  }
  if (const auto* doc = policies.if_object()) {
    if (const auto* list = doc->if_contains("policies"); list && list->is_array()) {
      for (const auto& p : list->get_array()) {
        const auto* o = p.if_object();
        if (!o) continue;
        const auto* name = o->if_contains("name");
        const auto* key = o->if_contains("primaryKey");
        if (name && key && name->is_string() && key->is_string() && name->get_string() == policy)
          out.connection_string = "HostName=" + host +
                                  ";SharedAccessKeyName=" + std::string(policy) +
                                  ";SharedAccessKey=" + std::string(key->get_string());
      }
    }
  }
  if (fs::exists(dir / "tls" / "ca.pem")) out.ca = (dir / "tls" / "ca.pem").string();
  return out;
}

std::string data_dir_of(const client_state& s) {
  auto dir = flag_or_env(s.data_dir, "METHODHUB_DATA_DIR");
  return dir.empty() ? "methodhub-data" : dir;
}

std::string first_of(std::initializer_list<std::string> options) {
  for (const auto& o : options)
    if (!o.empty()) return o;
  return {};
}

/// One hub, reached with one set of credentials; every call is a fresh connection. Without a
/// connection string the client falls back to the hub whose data directory is at hand (the
/// `--data-dir` of `serve`, `./methodhub-data` by default), so the CLI works on the hub's own
/// machine with no set-up.
class hub_client {
 public:
  explicit hub_client(const client_state& s) : hub_client(s, find_local_hub(data_dir_of(s))) {}

  hub_client(const client_state& s, const local_hub& local)
      : explicit_cs_(!flag_or_env(s.connection_string, "METHODHUB_CONNECTION_STRING").empty()),
        creds_(parse_service_connection_string(
            first_of({flag_or_env(s.connection_string, "METHODHUB_CONNECTION_STRING"),
                      local.connection_string}))),
        endpoint_(parse_hub_url(first_of({flag_or_env(s.hub_url, "METHODHUB_URL"),
                                          explicit_cs_ ? std::string() : local.url,
                                          "https://" + creds_.host_name + ":443"}))),
        ca_(first_of({flag_or_env(s.ca, "METHODHUB_CA"), local.ca})) {}

  const service_credentials& credentials() const { return creds_; }

  /// Sends the request; returns the body of a 2xx answer, throws client_error otherwise.
  std::string call(std::string method, std::string path, std::string body = {},
                   std::vector<std::pair<std::string, std::string>> extra_headers = {},
                   std::chrono::seconds timeout = registry_timeout) const {
    http_request req;
    req.method = std::move(method);
    req.target = with_api_version(std::move(path));
    req.headers = {
        {"Authorization", authorization_for(creds_, now_unix())},
        {"Content-Type", "application/json; charset=utf-8"},
        {"Accept", "application/json"},
        {"Request-Id", uuid_v4()},
        {"User-Agent", "methodhub-cli"},
    };
    for (auto& h : extra_headers) req.headers.push_back(std::move(h));
    req.body = std::move(body);
    http_options opt;
    opt.timeout = timeout;
    opt.ca_file = ca_;
    auto res = perform(endpoint_, req, opt);
    if (res.status < 200 || res.status >= 300) {
      throw client_error(
          describe_http_error(res.status, res.reason, res.iothub_errorcode, res.body));
    }
    return std::move(res.body);
  }

 private:
  bool explicit_cs_;
  service_credentials creds_;
  hub_endpoint endpoint_;
  std::string ca_;
};

void print_json(std::string_view body) {
  if (body.empty()) return;
  std::cout << pretty_json(body) << '\n';
}

void add_client_flags(CLI::App* cmd, client_state& s) {
  cmd->add_option("--connection-string", s.connection_string,
                  "Service connection string: HostName=...;SharedAccessKeyName=...;"
                  "SharedAccessKey=... (env METHODHUB_CONNECTION_STRING)")
      ->type_name("CS");
  cmd->add_option("--hub-url", s.hub_url,
                  "Where the hub listens, e.g. https://127.0.0.1:8443 or http://127.0.0.1:8080 "
                  "(env METHODHUB_URL; default https://<HostName>:443)")
      ->type_name("URL");
  cmd->add_option("--data-dir", s.data_dir,
                  "Without a connection string, use the hub whose data directory this is "
                  "(its iothubowner key, HTTPS port and CA; env METHODHUB_DATA_DIR; default "
                  "methodhub-data)")
      ->type_name("DIR");
  cmd->add_option("--ca", s.ca,
                  "PEM file of CA certificates to trust besides the system store; the hub's is "
                  "<data-dir>/tls/ca.pem (env METHODHUB_CA)")
      ->type_name("FILE");
}

void add_device_flag(CLI::App* cmd, client_state& s) {
  cmd->add_option("--device,-d", s.device, "Device id")->required();
}

CLI::Option* add_module_flag(CLI::App* cmd, client_state& s, bool required) {
  auto* o = cmd->add_option("--module,-m", s.module, "Module id");
  if (required) o->required();
  return o;
}

void add_key_flags(CLI::App* cmd, client_state& s) {
  cmd->add_option("--primary-key", s.primary_key, "Primary key, base64 (default: hub-generated)");
  cmd->add_option("--secondary-key", s.secondary_key,
                  "Secondary key, base64 (default: hub-generated)");
}

// enable/disable: change `status` on the current document and write it back under its etag,
// so a concurrent update is refused (412) rather than overwritten.
int set_device_status(const client_state& s, bool enabled) {
  hub_client hub(s);
  const auto path = identity_path(s.device);
  auto current = hub.call("GET", path);
  boost::system::error_code ec;
  auto doc = json::parse(current, ec);
  if (ec || !doc.is_object()) throw client_error("the hub answered GET with something not JSON");
  auto& o = doc.as_object();
  std::string etag;
  if (const auto* e = o.if_contains("etag"); e != nullptr && e->is_string()) {
    etag = std::string(e->as_string());
  }
  o["status"] = enabled ? "enabled" : "disabled";
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("If-Match", etag.empty() ? "\"*\"" : "\"" + etag + "\"");
  print_json(hub.call("PUT", path, json::serialize(doc), std::move(headers)));
  return 0;
}

void add_device_commands(CLI::App& app, const std::shared_ptr<client_state>& st,
                         std::function<int()>& run) {
  auto* device = app.add_subcommand("device", "Manage devices in the hub's registry");
  device->require_subcommand(1);
  client_state& s = *st;

  auto* create = device->add_subcommand("create", "Create a device (PUT /devices/D)");
  add_client_flags(create, s);
  add_device_flag(create, s);
  add_key_flags(create, s);
  create->add_flag("--disabled", s.disabled, "Create it disabled");
  create->final_callback([st, &run] {
    run = [st] {
      hub_client hub(*st);
      print_json(hub.call(
          "PUT", identity_path(st->device),
          identity_create_body(st->device, {}, st->primary_key, st->secondary_key, !st->disabled)));
      return 0;
    };
  });

  auto* show = device->add_subcommand("show", "Show a device (GET /devices/D)");
  add_client_flags(show, s);
  add_device_flag(show, s);
  show->final_callback([st, &run] {
    run = [st] {
      print_json(hub_client(*st).call("GET", identity_path(st->device)));
      return 0;
    };
  });

  auto* list = device->add_subcommand("list", "List devices (GET /devices)");
  add_client_flags(list, s);
  list->final_callback([st, &run] {
    run = [st] {
      print_json(hub_client(*st).call("GET", "/devices"));
      return 0;
    };
  });

  auto* del = device->add_subcommand("delete", "Delete a device (DELETE /devices/D)");
  add_client_flags(del, s);
  add_device_flag(del, s);
  del->final_callback([st, &run] {
    run = [st] {
      print_json(
          hub_client(*st).call("DELETE", identity_path(st->device), {}, {{"If-Match", "\"*\""}}));
      return 0;
    };
  });

  for (bool enable : {true, false}) {
    auto* cmd = device->add_subcommand(enable ? "enable" : "disable",
                                       enable ? "Enable a device" : "Disable a device");
    add_client_flags(cmd, s);
    add_device_flag(cmd, s);
    cmd->final_callback(
        [st, &run, enable] { run = [st, enable] { return set_device_status(*st, enable); }; });
  }
}

void add_module_commands(CLI::App& app, const std::shared_ptr<client_state>& st,
                         std::function<int()>& run) {
  auto* module = app.add_subcommand("module", "Manage modules of a device");
  module->require_subcommand(1);
  client_state& s = *st;

  auto* create = module->add_subcommand("create", "Create a module (PUT /devices/D/modules/M)");
  add_client_flags(create, s);
  add_device_flag(create, s);
  add_module_flag(create, s, true);
  add_key_flags(create, s);
  create->final_callback([st, &run] {
    run = [st] {
      hub_client hub(*st);
      print_json(hub.call(
          "PUT", identity_path(st->device, st->module),
          identity_create_body(st->device, st->module, st->primary_key, st->secondary_key, true)));
      return 0;
    };
  });

  auto* show = module->add_subcommand("show", "Show a module (GET /devices/D/modules/M)");
  add_client_flags(show, s);
  add_device_flag(show, s);
  add_module_flag(show, s, true);
  show->final_callback([st, &run] {
    run = [st] {
      print_json(hub_client(*st).call("GET", identity_path(st->device, st->module)));
      return 0;
    };
  });

  auto* list = module->add_subcommand("list", "List a device's modules (GET /devices/D/modules)");
  add_client_flags(list, s);
  add_device_flag(list, s);
  list->final_callback([st, &run] {
    run = [st] {
      print_json(hub_client(*st).call("GET", identity_path(st->device) + "/modules"));
      return 0;
    };
  });

  auto* del = module->add_subcommand("delete", "Delete a module (DELETE /devices/D/modules/M)");
  add_client_flags(del, s);
  add_device_flag(del, s);
  add_module_flag(del, s, true);
  del->final_callback([st, &run] {
    run = [st] {
      print_json(hub_client(*st).call("DELETE", identity_path(st->device, st->module), {},
                                      {{"If-Match", "\"*\""}}));
      return 0;
    };
  });
}

void add_connection_string_command(CLI::App& app, const std::shared_ptr<client_state>& st,
                                   std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "connection-string",
      "Print a device's or module's connection string, or (--policy) a shared access policy's");
  client_state& s = *st;
  add_client_flags(cmd, s);
  auto* device = cmd->add_option("--device,-d", s.device, "Device id");
  auto* module = add_module_flag(cmd, s, false);
  auto* policy = cmd->add_option(
      "--policy", s.policy,
      "Policy name, e.g. iothubowner: read from the local hub's data directory (--data-dir), "
      "never over the network; the hub does not log it");
  device->excludes(policy);
  module->needs(device);
  cmd->add_option("--key", s.key_choice, "Which key to put in it")
      ->check(CLI::IsMember({"primary", "secondary"}))
      ->capture_default_str();
  cmd->final_callback([st, &run] {
    run = [st] {
      if (!st->policy.empty()) {
        // Policy keys are not served by any API: only the hub's own machine has them.
        const auto dir = data_dir_of(*st);
        auto local = find_local_hub(dir, st->policy);
        if (local.connection_string.empty())
          throw usage_error("no policy '" + st->policy + "' in " + dir + "/policies.json");
        if (st->key_choice == "secondary")
          throw usage_error("--policy prints the primary key only");
        std::cout << local.connection_string << '\n';
        return 0;
      }
      if (st->device.empty()) throw usage_error("pass --device (and --module) or --policy");
      hub_client hub(*st);
      auto identity = hub.call("GET", identity_path(st->device, st->module));
      auto key = identity_key_from_json(identity, st->key_choice == "secondary");
      std::cout << identity_connection_string(hub.credentials().host_name, st->device, st->module,
                                              key)
                << '\n';
      return 0;
    };
  });
}

void add_invoke_command(CLI::App& app, const std::shared_ptr<client_state>& st,
                        std::function<int()>& run) {
  auto* cmd = app.add_subcommand("invoke", "Invoke a direct method on a device or module");
  client_state& s = *st;
  add_client_flags(cmd, s);
  add_device_flag(cmd, s);
  add_module_flag(cmd, s, false);
  cmd->add_option("--method", s.method, "Method name")->required();
  cmd->add_option("--payload", s.payload, "Payload: any JSON value, sent as given")
      ->capture_default_str();
  cmd->add_option("--response-timeout", s.response_timeout,
                  "Seconds to wait for the device's answer (hub accepts 5..300)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--connect-timeout", s.connect_timeout,
                  "Seconds to wait for the device to come online (0..300)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->final_callback([st, &run] {
    run = [st] {
      require_json(st->payload, "--payload");
      hub_client hub(*st);
      auto path = st->module.empty()
                      ? "/twins/" + codec::sas::url_encode(st->device) + "/methods"
                      : "/twins/" + codec::sas::url_encode(st->device) + "/modules/" +
                            codec::sas::url_encode(st->module) + "/methods";
      const auto timeout =
          std::chrono::seconds(st->response_timeout + st->connect_timeout) + invoke_margin;
      print_json(
          hub.call("POST", path,
                   invoke_body(st->method, st->response_timeout, st->connect_timeout, st->payload),
                   {}, timeout));
      return 0;
    };
  });
}

void add_sas_command(CLI::App& app, const std::shared_ptr<client_state>& st,
                     std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "sas", "Generate a SAS token from a connection string or a key (local, no network)");
  client_state& s = *st;
  // The variable is a fallback only when neither --connection-string nor --key is given.
  auto* cs = cmd->add_option("--connection-string", s.connection_string,
                             "Device, module or policy connection string (default "
                             "METHODHUB_CONNECTION_STRING unless --key is given)");
  auto* key = cmd->add_option("--key", s.key, "Base64 key to sign with");
  auto* resource =
      cmd->add_option("--resource", s.resource, "Resource URI, e.g. hub.lan/devices/dev1");
  auto* policy = cmd->add_option("--policy", s.policy, "Policy name (skn) for a policy key");
  cs->excludes(key);
  resource->needs(key);
  policy->needs(key);
  key->needs(resource);
  cmd->add_option("--ttl", s.ttl, "Lifetime in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->final_callback([st, &run] {
    run = [st] {
      sas_request r;
      if (!st->key.empty()) {
        if (!codec::sas::base64_decode(st->key)) throw usage_error("--key is not valid base64");
        r.resource = st->resource;
        r.key = st->key;
        r.key_name = st->policy;
      } else {
        std::string text = flag_or_env(st->connection_string, "METHODHUB_CONNECTION_STRING");
        if (text.empty()) {
          throw usage_error(
              "pass --connection-string, or --key with --resource, or set "
              "METHODHUB_CONNECTION_STRING");
        }
        r = sas_request_from_connection_string(text);
      }
      std::cout << codec::sas::make_token(r.resource, r.key, now_unix() + st->ttl, r.key_name)
                << '\n';
      return 0;
    };
  });
}

}  // namespace

void add_client_commands(CLI::App& app, std::function<int()>& run) {
  auto st = std::make_shared<client_state>();
  add_device_commands(app, st, run);
  add_module_commands(app, st, run);
  add_connection_string_command(app, st, run);
  add_invoke_command(app, st, run);
  add_sas_command(app, st, run);
}

}  // namespace hub::cli
