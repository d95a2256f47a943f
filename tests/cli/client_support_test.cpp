#include "cli/client_support.hpp"

#include <gtest/gtest.h>

#include <set>

#include "codec/sas/sas_token.hpp"

namespace hub::cli {
namespace {

constexpr std::string_view key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31

TEST(ParseHubUrl, HttpsDefaultPort) {
  auto ep = parse_hub_url("https://hub.example.lan");
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "hub.example.lan");
  EXPECT_EQ(ep.port, 443);
  EXPECT_FALSE(ep.host_is_ip());
  EXPECT_EQ(ep.authority(), "hub.example.lan");
}

TEST(ParseHubUrl, HttpWithPortAndSlash) {
  auto ep = parse_hub_url("http://127.0.0.1:8080/");
  EXPECT_FALSE(ep.tls);
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 8080);
  EXPECT_TRUE(ep.host_is_ip());
  EXPECT_EQ(ep.authority(), "127.0.0.1:8080");
}

TEST(ParseHubUrl, Ipv6Literal) {
  auto ep = parse_hub_url("https://[::1]:8443");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_TRUE(ep.host_is_ip());
  EXPECT_EQ(ep.authority(), "[::1]:8443");
}

TEST(ParseHubUrl, Rejects) {
  for (auto bad : {"ftp://h", "hub.lan:443", "https://h/devices", "https://h?x=1", "https://u@h",
                   "https://h:0", "https://h:70000", ""}) {
    EXPECT_THROW(parse_hub_url(bad), usage_error) << bad;
  }
}

TEST(ServiceConnectionString, Parses) {
  auto c = parse_service_connection_string(
      std::string("HostName=hub.lan;SharedAccessKeyName=iothubowner;SharedAccessKey=") +
      std::string(key));
  EXPECT_EQ(c.host_name, "hub.lan");
  EXPECT_EQ(c.key_name, "iothubowner");
  EXPECT_EQ(c.key, key);
}

TEST(ServiceConnectionString, ErrorsSayWhatIsWrong) {
  auto message = [](std::string_view cs) -> std::string {
    try {
      parse_service_connection_string(cs);
    } catch (const usage_error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message("").find("METHODHUB_CONNECTION_STRING"), std::string::npos);
  EXPECT_NE(message("HostName=h.lan;DeviceId=d;SharedAccessKey=" + std::string(key))
                .find("names a device"),
            std::string::npos);
  EXPECT_NE(
      message("HostName=h.lan;SharedAccessKey=" + std::string(key)).find("SharedAccessKeyName"),
      std::string::npos);
  EXPECT_NE(
      message("HostName=h.lan;SharedAccessKeyName=p;SharedAccessKey=not*base64").find("base64"),
      std::string::npos);
  EXPECT_NE(message("garbage").find("bad connection string"), std::string::npos);
}

TEST(Authorization, SignsHostWithPolicy) {
  service_credentials c{"hub.lan", "service", std::string(key), ""};
  auto header = authorization_for(c, 1000, 3600);
  auto t = codec::sas::parse_token(header);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sr, "hub.lan");
  EXPECT_EQ(t->skn, "service");
  EXPECT_EQ(t->se, 4600);
  EXPECT_TRUE(codec::sas::signature_matches(*t, key));
}

TEST(Authorization, ReadyMadeSignaturePassesThrough) {
  service_credentials c{"hub.lan", "", "", "SharedAccessSignature sr=x&sig=y&se=1"};
  EXPECT_EQ(authorization_for(c, 0), c.signature);
}

TEST(SasRequest, DeviceModuleAndPolicyStrings) {
  auto d = sas_request_from_connection_string("HostName=hub.lan;DeviceId=dev 1;SharedAccessKey=" +
                                              std::string(key));
  EXPECT_EQ(d.resource, "hub.lan/devices/dev 1");
  EXPECT_EQ(d.key_name, "");
  auto m = sas_request_from_connection_string(
      "HostName=hub.lan;DeviceId=d;ModuleId=m;SharedAccessKey=" + std::string(key));
  EXPECT_EQ(m.resource, "hub.lan/devices/d/modules/m");
  auto p = sas_request_from_connection_string(
      "HostName=hub.lan;SharedAccessKeyName=iothubowner;SharedAccessKey=" + std::string(key));
  EXPECT_EQ(p.resource, "hub.lan");
  EXPECT_EQ(p.key_name, "iothubowner");
  EXPECT_THROW(sas_request_from_connection_string("HostName=hub.lan;DeviceId=d;x509=true"),
               usage_error);
}

TEST(Paths, EncodedLikeEncodeUriComponent) {
  EXPECT_EQ(identity_path("dev1"), "/devices/dev1");
  EXPECT_EQ(identity_path("a b/c+d#e"), "/devices/a%20b%2Fc%2Bd%23e");
  EXPECT_EQ(identity_path("d", "m$1"), "/devices/d/modules/m%241");
  EXPECT_EQ(with_api_version("/devices"), "/devices?api-version=2021-04-12");
  EXPECT_EQ(with_api_version("/devices?top=5"), "/devices?top=5&api-version=2021-04-12");
}

TEST(Bodies, IdentityCreate) {
  EXPECT_EQ(identity_create_body("d", "", "", "", true),
            R"({"deviceId":"d","status":"enabled","authentication":{"type":"sas",)"
            R"("symmetricKey":{"primaryKey":"","secondaryKey":""}}})");
  EXPECT_EQ(identity_create_body("d", "", "k1", "k2", false),
            R"({"deviceId":"d","status":"disabled","authentication":{"type":"sas",)"
            R"("symmetricKey":{"primaryKey":"k1","secondaryKey":"k2"}}})");
  EXPECT_EQ(identity_create_body("d", "m", "", "", true),
            R"({"deviceId":"d","moduleId":"m","authentication":{"type":"sas",)"
            R"("symmetricKey":{"primaryKey":"","secondaryKey":""}}})");
}

TEST(Bodies, InvokePassesPayloadThroughVerbatim) {
  EXPECT_EQ(invoke_body("reboot", 30, 0, "null"),
            R"({"methodName":"reboot","responseTimeoutInSeconds":30,)"
            R"("connectTimeoutInSeconds":0,"payload":null})");
  EXPECT_EQ(invoke_body("m\"x", 5, 60, R"( {"a": 1.50e0} )"),
            R"({"methodName":"m\"x","responseTimeoutInSeconds":5,)"
            R"("connectTimeoutInSeconds":60,"payload": {"a": 1.50e0} })");
}

TEST(Bodies, RequireJson) {
  EXPECT_NO_THROW(require_json("null", "--payload"));
  EXPECT_NO_THROW(require_json("\"s\"", "--payload"));
  EXPECT_NO_THROW(require_json("[1,{}]", "--payload"));
  EXPECT_THROW(require_json("{", "--payload"), usage_error);
  EXPECT_THROW(require_json("abc", "--payload"), usage_error);
  EXPECT_THROW(require_json("", "--payload"), usage_error);
  EXPECT_THROW(require_json("1 2", "--payload"), usage_error);
}

TEST(PrettyJson, ReindentsKeepingTokens) {
  EXPECT_EQ(pretty_json(R"({"status":200,"payload":{"a":[1,2.50],"b":{},"c":[],"s":"x,{:}\""}})"),
            "{\n"
            "  \"status\": 200,\n"
            "  \"payload\": {\n"
            "    \"a\": [\n"
            "      1,\n"
            "      2.50\n"
            "    ],\n"
            "    \"b\": {},\n"
            "    \"c\": [],\n"
            "    \"s\": \"x,{:}\\\"\"\n"
            "  }\n"
            "}");
  EXPECT_EQ(pretty_json("null"), "null");
  EXPECT_EQ(pretty_json(" [ ] "), "[]");
  EXPECT_EQ(pretty_json("not json"), "not json");
}

TEST(HttpError, EnvelopeA) {
  std::string body =
      R"({"Message":"{\"errorCode\":404103,\"trackingId\":\"abc-G:0\",\"message\":\"Timed out waiting for device to connect.\",\"info\":{},\"timestampUtc\":\"2022-09-12T21:59:47.99936Z\"}","ExceptionMessage":""})";
  EXPECT_EQ(describe_http_error(404, "Not Found", "DeviceNotOnline", body),
            "404 DeviceNotOnline 404103: Timed out waiting for device to connect.");
}

TEST(HttpError, EnvelopeB) {
  std::string body =
      R"({"Message":"ErrorCode:InvalidProtocolVersion;BadRequest","ExceptionMessage":"Tracking ID:1"})";
  EXPECT_EQ(describe_http_error(400, "Bad Request", "InvalidProtocolVersion", body),
            "400 InvalidProtocolVersion: BadRequest");
  EXPECT_EQ(describe_http_error(400, "Bad Request", "", body),
            "400 InvalidProtocolVersion: BadRequest");
}

TEST(HttpError, RawBodyFallback) {
  EXPECT_EQ(describe_http_error(502, "Bad Gateway", "", "upstream down\n"),
            "502 Bad Gateway: upstream down");
  EXPECT_EQ(describe_http_error(500, "Internal Server Error", "", ""), "500 Internal Server Error");
  EXPECT_EQ(describe_http_error(413, "Payload Too Large", "MessageTooLarge", "{}"),
            "413 MessageTooLarge: {}");
}

TEST(IdentityKey, PicksKeyAndFormatsConnectionString) {
  std::string doc =
      R"({"deviceId":"d","authentication":{"type":"sas","symmetricKey":{"primaryKey":"P==","secondaryKey":"S=="}}})";
  EXPECT_EQ(identity_key_from_json(doc, false), "P==");
  EXPECT_EQ(identity_key_from_json(doc, true), "S==");
  EXPECT_THROW(identity_key_from_json(R"({"authentication":{"type":"selfSigned"}})", false),
               client_error);
  EXPECT_EQ(identity_connection_string("hub.lan", "d", "", "P=="),
            "HostName=hub.lan;DeviceId=d;SharedAccessKey=P==");
  EXPECT_EQ(identity_connection_string("hub.lan", "d", "m", "P=="),
            "HostName=hub.lan;DeviceId=d;ModuleId=m;SharedAccessKey=P==");
}

TEST(Uuid, Version4Shape) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto u = uuid_v4();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[8], '-');
    EXPECT_EQ(u[13], '-');
    EXPECT_EQ(u[14], '4');
    EXPECT_EQ(u[18], '-');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);
    EXPECT_EQ(u[23], '-');
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace hub::cli
