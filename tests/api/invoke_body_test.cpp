#include "api/invoke_body.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hub::api {
namespace {

const invoke_body& ok(const std::variant<invoke_body, invoke_body_error>& r) {
  if (const auto* e = std::get_if<invoke_body_error>(&r)) {
    ADD_FAILURE() << "unexpected error " << static_cast<int>(e->code) << ": " << e->message;
    static const invoke_body empty{};
    return empty;
  }
  return std::get<invoke_body>(r);
}

invoke_body_error fails(std::string_view body) {
  auto r = parse_invoke_body(body);
  if (const auto* e = std::get_if<invoke_body_error>(&r)) return *e;
  ADD_FAILURE() << "accepted: " << body;
  return {hub::errc::ok, ""};
}

void expect_argument_invalid(std::string_view body, std::string_view message = {}) {
  const auto e = fails(body);
  EXPECT_EQ(e.code, hub::errc::argument_invalid) << body << " -> " << e.message;
  if (!message.empty()) {
    EXPECT_EQ(e.message, message) << body;
  }
}

std::string with(std::string_view extra) {
  return std::string(R"({"methodName":"m")") + (extra.empty() ? "" : ",") + std::string(extra) +
         "}";
}

constexpr std::string_view rt_message = "responseTimeoutInSeconds must be within [5; 300].";
constexpr std::string_view ct_message = "connectTimeoutInSeconds must be within [0; 300].";

// ---- every SDK shape of spec §1.4 -------------------------------------------------------------

TEST(InvokeBody, CSharpV1PayloadNullTimeoutsOmitted) {
  const std::string body = R"({"methodName":"reboot","payload":null})";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.method_name, "reboot");
  EXPECT_EQ(b.payload, "null");
  EXPECT_EQ(b.response_timeout_s, 30);
  EXPECT_EQ(b.connect_timeout_s, 0);
}

TEST(InvokeBody, CSharpV1WithTimeouts) {
  const std::string body =
      R"({"methodName":"reboot","responseTimeoutInSeconds":200,"connectTimeoutInSeconds":200,"payload":{"input1":"someInput","input2":"anotherInput"}})";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.response_timeout_s, 200);
  EXPECT_EQ(b.connect_timeout_s, 200);
  EXPECT_EQ(b.payload, R"({"input1":"someInput","input2":"anotherInput"})");
}

TEST(InvokeBody, Node) {
  const std::string body =
      R"({"methodName":"echo","responseTimeoutInSeconds":30,"connectTimeoutInSeconds":0,"payload":null})";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.method_name, "echo");
  EXPECT_EQ(b.payload, "null");
  EXPECT_EQ(b.response_timeout_s, 30);
  EXPECT_EQ(b.connect_timeout_s, 0);
}

TEST(InvokeBody, JavaTimeoutsOmitted) {
  const std::string body = R"({"methodName":"getTemp","payload":"hello"})";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.payload, R"("hello")");
  EXPECT_EQ(b.response_timeout_s, 30);
  EXPECT_EQ(b.connect_timeout_s, 0);
}

TEST(InvokeBody, PythonPayloadOmitted) {
  const std::string body = R"({"methodName":"m","responseTimeoutInSeconds":10})";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.payload, "null");
  EXPECT_EQ(b.response_timeout_s, 10);
}

TEST(InvokeBody, CConnectTimeout60NoPayloadKey) {
  // C SDK: pretty-ish formatting, connect timeout always 60, payload key omitted.
  const std::string body =
      "{\"methodName\":\"reboot\",\"timeout\":null,\"responseTimeoutInSeconds\":30,"
      "\"connectTimeoutInSeconds\":60}";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.connect_timeout_s, 60);
  EXPECT_EQ(b.response_timeout_s, 30);
  EXPECT_EQ(b.payload, "null");
}

TEST(InvokeBody, PayloadAnyJsonValuePassedThroughVerbatim) {
  for (std::string p :
       {"42", "-1.5e3", "true", "false", "null", R"("text with \"esc\" \u00e9")",
        "[1, \"two\", {\"3\": [ ]}]", "{ \"spaced\" :  [ 1 , 2 ] }", "[]", "{}", "\"\"", "0"}) {
    const std::string body = "{ \"payload\" : " + p + " , \"methodName\" : \"m\" }";
    auto r = parse_invoke_body(body);
    const auto& b = ok(r);
    EXPECT_EQ(b.payload, p);
    // A view into the body: zero copy.
    EXPECT_GE(b.payload.data(), body.data());
    EXPECT_LE(b.payload.data() + b.payload.size(), body.data() + body.size());
  }
}

TEST(InvokeBody, WhitespaceAndUnknownKeysAndOrder) {
  const std::string body =
      "\r\n {\n\t\"payload\": {\"a\":1},\n \"x-extra\": [1,2], \"methodName\" : \"do_it\", "
      "\"extra\":{\"methodName\":\"nested-is-not-top-level\"}, \"x-extra\": 3 } \n";
  auto r = parse_invoke_body(body);
  const auto& b = ok(r);
  EXPECT_EQ(b.method_name, "do_it");
  EXPECT_EQ(b.payload, R"({"a":1})");
}

// ---- body-level errors ------------------------------------------------------------------------

TEST(InvokeBody, NotJsonIsFormatErrorWithOffset) {
  for (std::string body :
       {"", "{", "{\"methodName\":\"m\",}", "not json", "{\"methodName\":'m'}",
        "{\"methodName\":\"m\"} trailing", "{\"methodName\":\"m\",\"payload\":01}"}) {
    const auto e = fails(body);
    EXPECT_EQ(e.code, hub::errc::iot_hub_format_error) << body;
    EXPECT_NE(e.message.find("offset"), std::string::npos) << e.message;
  }
  const auto e = fails("{\"methodName\":\"m\",}");
  EXPECT_EQ(e.message, "request body is not valid JSON: expected a string key at offset 18.");
}

TEST(InvokeBody, NotAnObjectIsArgumentInvalid) {
  for (std::string body : {"[]", "null", "\"m\"", "42", "[{\"methodName\":\"m\"}]"}) {
    expect_argument_invalid(body);
  }
}

TEST(InvokeBody, TooDeepIsFormatError) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  const auto e = fails(R"({"methodName":"m","payload":)" + deep + "}");
  EXPECT_EQ(e.code, hub::errc::iot_hub_format_error);
}

TEST(InvokeBody, DuplicateKnownKeysRejected) {
  expect_argument_invalid(R"({"methodName":"a","methodName":"b"})");
  expect_argument_invalid(with(R"("payload":1,"payload":2)"));
  expect_argument_invalid(with(R"("responseTimeoutInSeconds":10,"responseTimeoutInSeconds":10)"));
  expect_argument_invalid(with(R"("connectTimeoutInSeconds":1,"connectTimeoutInSeconds":1)"));
  expect_argument_invalid(with(R"("timeoutInSeconds":1,"timeoutInSeconds":1)"));
  // Escaped spelling is the same key.
  expect_argument_invalid(R"({"methodName":"a","method\u004eame":"b"})");
  // Unknown duplicated keys are ignored like any unknown key.
  auto r = parse_invoke_body(with(R"("foo":1,"foo":2)"));
  EXPECT_EQ(ok(r).method_name, "m");
}

// ---- methodName ---------------------------------------------------------------------------------

TEST(InvokeBody, MethodNameRequiredAndString) {
  expect_argument_invalid(R"({})");
  expect_argument_invalid(R"({"payload":1})");
  expect_argument_invalid(R"({"methodName":null})");
  expect_argument_invalid(R"({"methodName":1})");
  expect_argument_invalid(R"({"methodName":["m"]})");
  expect_argument_invalid(R"({"methodName":{}})");
  expect_argument_invalid(R"({"methodname":"m"})");  // keys are case-sensitive
  EXPECT_EQ(fails(R"({})").message, "methodName is required.");
}

TEST(InvokeBody, MethodNameLength) {
  const std::string n100(100, 'a');
  auto r = parse_invoke_body(R"({"methodName":")" + n100 + "\"}");
  EXPECT_EQ(ok(r).method_name, n100);
  expect_argument_invalid(R"({"methodName":")" + std::string(101, 'a') + "\"}");
  expect_argument_invalid(R"({"methodName":""})", "methodName must not be empty.");
  auto one = parse_invoke_body(R"({"methodName":"x"})");
  EXPECT_EQ(ok(one).method_name, "x");
}

TEST(InvokeBody, MethodNameWhitespaceOnly) {
  for (std::string n : {" ", "   ", "\\t", " \\t ", "\\n", "\\r\\n"}) {
    expect_argument_invalid(R"({"methodName":")" + n + "\"}",
                            "methodName must not be whitespace only.");
  }
}

TEST(InvokeBody, MethodNameForbiddenCharacters) {
  for (char c : std::string("$()<>@,;:\\\"/[]?={}#%")) {
    std::string escaped_c = (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    const auto e = fails(R"({"methodName":"a)" + escaped_c + "b\"}");
    EXPECT_EQ(e.code, hub::errc::argument_invalid) << c;
    EXPECT_NE(e.message.find(std::string("'") + c + "'"), std::string::npos) << e.message;
  }
  // Escaped forms of forbidden characters are rejected after unescaping.
  expect_argument_invalid(R"({"methodName":"a\/b"})");
  expect_argument_invalid(R"({"methodName":"a\u002fb"})");
  expect_argument_invalid(R"({"methodName":"a\u0023b"})");
}

TEST(InvokeBody, MethodNameNonPrintableOrNonAscii) {
  for (std::string n : {"a b", "a\\tb", "a\\u0000b", "a\\u007fb", "a\\nb", "caf\xC3\xA9",
                        "caf\\u00e9", "\\ud83d\\ude00", "\\ud800", "a\\u00a0"}) {
    expect_argument_invalid(R"({"methodName":")" + n + "\"}");
  }
}

TEST(InvokeBody, MethodNameAllowedCharacters) {
  // Everything printable that is not a separator, e.g. what real device code uses.
  const std::string allowed = "azAZ09!&'*+-._^`|~";
  auto r = parse_invoke_body(R"({"methodName":")" + allowed + "\"}");
  EXPECT_EQ(ok(r).method_name, allowed);
  auto r2 = parse_invoke_body(R"({"methodName":"get\u0054emp"})");
  EXPECT_EQ(ok(r2).method_name, "getTemp");
  EXPECT_TRUE(check_method_name("reboot").empty());
  EXPECT_FALSE(check_method_name("re boot").empty());
}

// ---- timeouts -----------------------------------------------------------------------------------

TEST(InvokeBody, ResponseTimeoutBoundaries) {
  for (int v : {5, 6, 30, 299, 300}) {
    auto r = parse_invoke_body(with("\"responseTimeoutInSeconds\":" + std::to_string(v)));
    EXPECT_EQ(ok(r).response_timeout_s, v);
  }
  for (std::string v : {"0", "4", "301", "-1", "-30", "5.5", "30.0", "3e1", "1e400",
                        "99999999999999999999", "\"30\"", "true", "false", "[30]", "{}", "-0.0"}) {
    expect_argument_invalid(with("\"responseTimeoutInSeconds\":" + v), rt_message);
  }
  auto n = parse_invoke_body(with("\"responseTimeoutInSeconds\":null"));
  EXPECT_EQ(ok(n).response_timeout_s, 30);
}

TEST(InvokeBody, ConnectTimeoutBoundaries) {
  for (int v : {0, 1, 60, 300}) {
    auto r = parse_invoke_body(with("\"connectTimeoutInSeconds\":" + std::to_string(v)));
    EXPECT_EQ(ok(r).connect_timeout_s, v);
  }
  auto neg0 = parse_invoke_body(with("\"connectTimeoutInSeconds\":-0"));
  EXPECT_EQ(ok(neg0).connect_timeout_s, 0);
  for (std::string v : {"301", "-1", "5.5", "0.0", "1e1", "\"0\"", "true", "[]"}) {
    expect_argument_invalid(with("\"connectTimeoutInSeconds\":" + v), ct_message);
  }
  auto n = parse_invoke_body(with("\"connectTimeoutInSeconds\":null"));
  EXPECT_EQ(ok(n).connect_timeout_s, 0);
}

TEST(InvokeBody, LegacyTimeoutInSecondsAlias) {
  auto a = parse_invoke_body(with(R"("timeoutInSeconds":45)"));
  EXPECT_EQ(ok(a).response_timeout_s, 45);
  // The modern key wins when present, and the legacy one is then not looked at.
  auto b = parse_invoke_body(with(R"("timeoutInSeconds":45,"responseTimeoutInSeconds":20)"));
  EXPECT_EQ(ok(b).response_timeout_s, 20);
  auto c = parse_invoke_body(with(R"("timeoutInSeconds":1000,"responseTimeoutInSeconds":20)"));
  EXPECT_EQ(ok(c).response_timeout_s, 20);
  // An explicit null modern key counts as absent.
  auto d = parse_invoke_body(with(R"("responseTimeoutInSeconds":null,"timeoutInSeconds":45)"));
  EXPECT_EQ(ok(d).response_timeout_s, 45);
  auto e = parse_invoke_body(with(R"("timeoutInSeconds":null)"));
  EXPECT_EQ(ok(e).response_timeout_s, 30);
  expect_argument_invalid(with(R"("timeoutInSeconds":4)"), rt_message);
  expect_argument_invalid(with(R"("timeoutInSeconds":301)"), rt_message);
}

// ---- payload size -------------------------------------------------------------------------------

std::string string_payload_of_size(std::size_t n) {  // a JSON string literal of exactly n bytes
  return "\"" + std::string(n - 2, 'x') + "\"";
}

TEST(InvokeBody, PayloadSizeLimit) {
  const std::string at = with("\"payload\":" + string_payload_of_size(131072));
  auto r = parse_invoke_body(at);
  EXPECT_EQ(ok(r).payload.size(), 131072u);

  const auto e = fails(with("\"payload\":" + string_payload_of_size(131073)));
  EXPECT_EQ(e.code, hub::errc::message_too_large);
  EXPECT_EQ(e.message, "payload size 131073 exceeds 131072 bytes");

  // The limit is on the payload's raw bytes, not on the body: whitespace around it is free,
  // and the rest of the body does not count.
  const std::string padded = "{\"methodName\":\"m\",\"pad\":\"" + std::string(200000, 'p') +
                             "\",\"payload\":   " + string_payload_of_size(131072) + "   }";
  auto p = parse_invoke_body(padded);
  EXPECT_EQ(ok(p).payload.size(), 131072u);

  // Structured payloads count their raw bytes (escapes and whitespace included).
  std::string arr = "[";
  for (int i = 0; i < 65534; ++i) arr += "1,";
  arr += "11]";  // 1 + 2*65534 + 3 bytes
  ASSERT_EQ(arr.size(), 131072u);
  const std::string arr_body = with("\"payload\":" + arr);  // payload views into it
  auto q = parse_invoke_body(arr_body);
  EXPECT_TRUE(ok(q).payload == arr);
  arr.insert(1, " ");
  const auto big = fails(with("\"payload\":" + arr));
  EXPECT_EQ(big.code, hub::errc::message_too_large);
}

}  // namespace
}  // namespace hub::api
