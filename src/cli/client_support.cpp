#include "cli/client_support.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <random>

#include "codec/sas/connection_string.hpp"
#include "codec/sas/crypto.hpp"
#include "codec/sas/sas_token.hpp"

namespace hub::cli {

namespace json = boost::json;
namespace sas = hub::codec::sas;

bool hub_endpoint::host_is_ip() const {
  // Enough to decide SNI: IPv6 literals hold a colon, IPv4 literals only digits and dots.
  if (host.find(':') != std::string::npos) return true;
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
}

std::string hub_endpoint::authority() const {
  std::string a = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) a += ":" + std::to_string(port);
  return a;
}

hub_endpoint parse_hub_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return usage_error(
        fmt::format("bad hub URL '{}': {} (expected https://host[:port] or "
                    "http://host[:port])",
                    url, why));
  };
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) throw bad("not an absolute URL");
  const auto& u = *parsed;
  hub_endpoint ep;
  ep.url = std::string(url);
  if (u.scheme() == "https") {
    ep.tls = true;
    ep.port = 443;
  } else if (u.scheme() == "http") {
    ep.tls = false;
    ep.port = 80;
  } else {
    throw bad("scheme must be http or https");
  }
  if (u.has_userinfo()) throw bad("user info is not supported");
  if (u.has_query() || u.has_fragment()) throw bad("no query or fragment allowed");
  if (!u.encoded_path().empty() && u.encoded_path() != "/") throw bad("no path allowed");
  ep.host = u.host_address();  // IPv6 without brackets
  if (ep.host.empty()) throw bad("no host");
  if (u.has_port()) {
    auto p = u.port();
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || v == 0 || v > 65535) {
      throw bad("port must be 1..65535");
    }
    ep.port = static_cast<std::uint16_t>(v);
  }
  return ep;
}

namespace {

sas::connection_string parse_cs(std::string_view text) {
  if (text.empty()) {
    throw usage_error(
        "no connection string: pass --connection-string or set METHODHUB_CONNECTION_STRING "
        "(on the hub's machine: methodhub connection-string --policy iothubowner)");
  }
  std::string why;
  auto cs = sas::parse_connection_string(text, &why);
  if (!cs) throw usage_error(fmt::format("bad connection string: {}", why));
  return *cs;
}

void require_base64_key(std::string_view key) {
  if (!sas::base64_decode(key)) {
    throw usage_error("bad connection string: SharedAccessKey is not valid base64");
  }
}

}  // namespace

service_credentials parse_service_connection_string(std::string_view text) {
  auto cs = parse_cs(text);
  if (!cs.device_id.empty()) {
    throw usage_error(
        "bad connection string: it names a device (DeviceId=); the hub's REST API needs a "
        "service connection string: HostName=...;SharedAccessKeyName=...;SharedAccessKey=...");
  }
  service_credentials c;
  c.host_name = cs.host_name;
  c.key_name = cs.shared_access_key_name;
  c.key = cs.shared_access_key;
  c.signature = cs.shared_access_signature;
  if (c.signature.empty()) {
    if (c.key_name.empty()) {
      throw usage_error("bad connection string: SharedAccessKeyName (the policy name) is missing");
    }
    if (c.key.empty()) throw usage_error("bad connection string: SharedAccessKey is missing");
    require_base64_key(c.key);
  }
  return c;
}

std::string authorization_for(const service_credentials& creds, std::int64_t now_unix,
                              std::int64_t ttl_seconds) {
  if (!creds.signature.empty()) return creds.signature;
  return sas::make_token(creds.host_name, creds.key, now_unix + ttl_seconds, creds.key_name);
}

sas_request sas_request_from_connection_string(std::string_view text) {
  auto cs = parse_cs(text);
  if (cs.shared_access_key.empty()) {
    throw usage_error("bad connection string: no SharedAccessKey to sign with");
  }
  require_base64_key(cs.shared_access_key);
  sas_request r;
  r.key = cs.shared_access_key;
  r.key_name = cs.shared_access_key_name;
  r.resource = cs.host_name;
  // Same `sr` the device SDKs sign (spec §2.3): the identity's path under the hub.
  if (!cs.device_id.empty()) r.resource += "/devices/" + cs.device_id;
  if (!cs.module_id.empty()) r.resource += "/modules/" + cs.module_id;
  return r;
}

std::string identity_path(std::string_view device_id, std::string_view module_id) {
  std::string p = "/devices/" + sas::url_encode(device_id);
  if (!module_id.empty()) p += "/modules/" + sas::url_encode(module_id);
  return p;
}

std::string with_api_version(std::string path) {
  path += path.find('?') == std::string::npos ? '?' : '&';
  path += "api-version=";
  path += api_version;
  return path;
}

std::string identity_create_body(std::string_view device_id, std::string_view module_id,
                                 std::string_view primary_key, std::string_view secondary_key,
                                 bool enabled) {
  json::object o;
  o["deviceId"] = device_id;
  if (!module_id.empty()) {
    o["moduleId"] = module_id;
  } else {
    o["status"] = enabled ? "enabled" : "disabled";
  }
  o["authentication"] = {
      {"type", "sas"},
      {"symmetricKey", {{"primaryKey", primary_key}, {"secondaryKey", secondary_key}}}};
  return json::serialize(o);
}

void require_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  (void)json::parse(text, ec);
  if (ec) throw usage_error(fmt::format("{} is not valid JSON: {}", what, ec.message()));
}

std::string invoke_body(std::string_view method_name, int response_timeout_s, int connect_timeout_s,
                        std::string_view payload_json) {
  return fmt::format(
      R"({{"methodName":{},"responseTimeoutInSeconds":{},"connectTimeoutInSeconds":{},"payload":{}}})",
      json::serialize(json::string(method_name)), response_timeout_s, connect_timeout_s,
      payload_json);
}

std::string pretty_json(std::string_view text) {
  boost::system::error_code ec;
  (void)json::parse(text, ec);
  if (ec) return std::string(text);
  // The text is valid JSON, so a token walk only needs to know whether it is inside a string.
  std::string out;
  out.reserve(text.size() * 2);
  int depth = 0;
  auto newline = [&] {
    out += '\n';
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
  };
  auto next_significant = [&](std::size_t i) {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
      ++i;
    }
    return i;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      case '"': {
        std::size_t j = i + 1;
        while (text[j] != '"') j += text[j] == '\\' ? 2 : 1;
        out.append(text.substr(i, j - i + 1));
        i = j;
        break;
      }
      case '{':
      case '[': {
        std::size_t j = next_significant(i + 1);
        if (text[j] == '}' || text[j] == ']') {  // `{}` and `[]` stay on one line
          out += c;
          out += text[j];
          i = j;
          break;
        }
        out += c;
        ++depth;
        newline();
        break;
      }
      case '}':
      case ']':
        --depth;
        newline();
        out += c;
        break;
      case ',':
        out += ',';
        newline();
        break;
      case ':':
        out += ": ";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

struct error_parts {
  std::string code;  // numeric errorCode or the envelope-B name
  std::string message;
};

std::optional<error_parts> parse_envelope(std::string_view body) {
  boost::system::error_code ec;
  auto outer = json::parse(body, ec);
  if (ec || !outer.is_object()) return std::nullopt;
  const auto* msg = outer.as_object().if_contains("Message");
  if (msg == nullptr || !msg->is_string()) return std::nullopt;
  std::string_view m = msg->as_string();
  // Envelope A: the Message is itself JSON text.
  auto inner = json::parse(m, ec);
  if (!ec && inner.is_object()) {
    error_parts p;
    const auto& o = inner.as_object();
    if (const auto* code = o.if_contains("errorCode")) {
      if (code->is_string()) {
        p.code = std::string(code->as_string());
      } else if (code->is_number()) {
        p.code = json::serialize(*code);
      }
    }
    if (const auto* text = o.if_contains("message"); text != nullptr && text->is_string()) {
      p.message = std::string(text->as_string());
    }
    return p;
  }
  // Envelope B: `ErrorCode:<Name>;<text>`.
  constexpr std::string_view prefix = "ErrorCode:";
  error_parts p;
  if (m.substr(0, prefix.size()) == prefix) {
    auto rest = m.substr(prefix.size());
    auto semi = rest.find(';');
    p.code = std::string(rest.substr(0, semi));
    if (semi != std::string_view::npos) p.message = std::string(rest.substr(semi + 1));
  } else {
    p.message = std::string(m);
  }
  return p;
}

}  // namespace

std::string describe_http_error(unsigned status, std::string_view reason,
                                std::string_view iothub_errorcode, std::string_view body) {
  std::string out = std::to_string(status);
  if (!iothub_errorcode.empty()) {
    out += ' ';
    out += iothub_errorcode;
  }
  auto parts = parse_envelope(body);
  if (!parts) {
    if (iothub_errorcode.empty() && !reason.empty()) {
      out += ' ';
      out += reason;
    }
    auto trimmed = body.substr(0, 2000);
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) {
      trimmed.remove_suffix(1);
    }
    if (!trimmed.empty()) {
      out += ": ";
      out += trimmed;
    }
    return out;
  }
  // Envelope B repeats the header's name as its code; say it once.
  if (!parts->code.empty() && parts->code != iothub_errorcode) {
    out += ' ';
    out += parts->code;
  }
  if (!parts->message.empty()) {
    out += ": ";
    out += parts->message;
  }
  return out;
}

std::string identity_connection_string(std::string_view host_name, std::string_view device_id,
                                       std::string_view module_id, std::string_view key) {
  sas::connection_string cs;
  cs.host_name = host_name;
  cs.device_id = device_id;
  cs.module_id = module_id;
  cs.shared_access_key = key;
  return sas::to_string(cs);
}

std::string identity_key_from_json(std::string_view identity_json, bool secondary) {
  const char* name = secondary ? "secondaryKey" : "primaryKey";
  boost::system::error_code ec;
  auto v = json::parse(identity_json, ec);
  const json::value* key = nullptr;
  if (!ec && v.is_object()) {
    if (const auto* auth = v.as_object().if_contains("authentication");
        auth != nullptr && auth->is_object()) {
      if (const auto* sk = auth->as_object().if_contains("symmetricKey");
          sk != nullptr && sk->is_object()) {
        key = sk->as_object().if_contains(name);
      }
    }
  }
  if (key == nullptr || !key->is_string() || key->as_string().empty()) {
    throw client_error(fmt::format(
        "the hub's answer has no authentication.symmetricKey.{} (not a SAS identity?)", name));
  }
  return std::string(key->as_string());
}

std::string uuid_v4() {
  std::random_device rd;
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < b.size(); i += 4) {
    auto r = rd();
    for (std::size_t k = 0; k < 4; ++k) b[i + k] = static_cast<unsigned char>(r >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

}  // namespace hub::cli
