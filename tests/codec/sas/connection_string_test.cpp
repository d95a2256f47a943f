#include "codec/sas/connection_string.hpp"

#include <gtest/gtest.h>

namespace hub::codec::sas {
namespace {

TEST(ConnectionString, DeviceWithKey) {
  const auto c = parse_connection_string(
      "HostName=hub.example.lan;DeviceId=dev1;SharedAccessKey="
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host_name, "hub.example.lan");
  EXPECT_EQ(c->device_id, "dev1");
  EXPECT_EQ(c->shared_access_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  EXPECT_TRUE(c->module_id.empty());
  EXPECT_FALSE(c->x509);
}

TEST(ConnectionString, AllKeysAnyOrder) {
  const auto c = parse_connection_string(
      "x509=TRUE;GatewayHostName=gw.lan;ModuleId=m1;SharedAccessSignature=SharedAccessSignature "
      "sr=a&sig=b=&se=1;DeviceId=d;SharedAccessKeyName=device;SharedAccessKey=k==;HostName=h.lan;");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host_name, "h.lan");
  EXPECT_EQ(c->device_id, "d");
  EXPECT_EQ(c->module_id, "m1");
  EXPECT_EQ(c->shared_access_key_name, "device");
  EXPECT_EQ(c->shared_access_key, "k==");
  EXPECT_EQ(c->shared_access_signature, "SharedAccessSignature sr=a&sig=b=&se=1");
  EXPECT_EQ(c->gateway_host_name, "gw.lan");
  EXPECT_TRUE(c->x509);
  EXPECT_EQ(to_string(*c),
            "HostName=h.lan;DeviceId=d;ModuleId=m1;SharedAccessKeyName=device;SharedAccessKey=k==;"
            "SharedAccessSignature=SharedAccessSignature sr=a&sig=b=&se=1;GatewayHostName=gw.lan;"
            "x509=true");
  EXPECT_EQ(parse_connection_string(to_string(*c))->module_id, "m1");
}

TEST(ConnectionString, Service) {
  const auto c = parse_connection_string(
      "HostName=h.lan;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5");
  ASSERT_TRUE(c);
  EXPECT_EQ(to_string(*c), "HostName=h.lan;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5");
}

TEST(ConnectionString, UnknownKeysIgnored) {
  const auto c = parse_connection_string("HostName=h.lan;Foo=bar;DeviceId=d;SharedAccessKey=k");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->device_id, "d");
}

TEST(ConnectionString, X509Only) {
  const auto c = parse_connection_string("HostName=h.lan;DeviceId=d;x509=true");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->x509);
}

TEST(ConnectionString, Errors) {
  struct bad {
    std::string text;
    std::string_view mentions;
  };
  for (const auto& b : std::initializer_list<bad>{
           {"", "HostName"},
           {"DeviceId=d;SharedAccessKey=k", "HostName"},
           {"HostName=;DeviceId=d;SharedAccessKey=k", "HostName"},
           {"HostName=h.lan;DeviceId=d", "SharedAccessKey"},
           {"HostName=h.lan;DeviceId=d;x509=false", "SharedAccessKey"},
           {"HostName=h.lan;DeviceId=d;x509=yes;SharedAccessKey=k", "x509"},
           {"HostName=h.lan;HostName=h2.lan;SharedAccessKey=k", "duplicate key: HostName"},
           {"HostName=h.lan;SharedAccessKey=;SharedAccessKey=k", "duplicate key: SharedAccessKey"},
           {"HostName=h.lan;DeviceId;SharedAccessKey=k", "DeviceId"},
           {"HostName=h.lan;ModuleId=m;SharedAccessKey=k", "ModuleId"},
           {"hostname=h.lan;SharedAccessKey=k", "HostName"},
           {"HostName=h.lan;SharedAccessKey=k;" + std::string(5000, 'a'), "too long"},
       }) {
    std::string error;
    EXPECT_FALSE(parse_connection_string(b.text, &error).has_value()) << b.text.substr(0, 60);
    EXPECT_NE(error.find(b.mentions), std::string::npos) << b.text.substr(0, 60) << " -> " << error;
  }
}

TEST(ConnectionString, ToStringOmitsEmpties) {
  connection_string c;
  c.host_name = "h.lan";
  c.device_id = "d";
  c.shared_access_key = "k=";
  EXPECT_EQ(to_string(c), "HostName=h.lan;DeviceId=d;SharedAccessKey=k=");
}

}  // namespace
}  // namespace hub::codec::sas
