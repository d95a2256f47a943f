// The bytes of an HTTP answer: what every REST client parses.

#include "transport/http_response_writer.hpp"

#include <gtest/gtest.h>

namespace hub::transport {
namespace {

TEST(HttpResponseWriter, JsonAnswerWithLengthAndHeadersInOrder) {
  api::http_response res;
  res.body = R"({"status":200,"payload":{}})";
  res.headers = {{"iothub-errorcode", "None"}, {"Request-Id", "r1"}};
  EXPECT_EQ(serialize_response(res, 11, true),
            "HTTP/1.1 200 OK\r\nServer: methodhub\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "iothub-errorcode: None\r\nRequest-Id: r1\r\n"
            "Content-Length: 27\r\n\r\n"
            R"({"status":200,"payload":{}})");
}

TEST(HttpResponseWriter, ConnectionHeaderFollowsKeepAliveAndVersion) {
  api::http_response res;
  res.status = 404;
  res.content_type = {};
  EXPECT_EQ(serialize_response(res, 11, false),
            "HTTP/1.1 404 Not Found\r\nServer: methodhub\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  EXPECT_EQ(serialize_response(res, 10, true),
            "HTTP/1.0 404 Not Found\r\nServer: methodhub\r\nContent-Length: 0\r\n"
            "Connection: keep-alive\r\n\r\n");
  EXPECT_EQ(serialize_response(res, 10, false),
            "HTTP/1.0 404 Not Found\r\nServer: methodhub\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

TEST(HttpResponseWriter, NoContentCarriesNoLengthAndNoBody) {
  api::http_response res;
  res.status = 204;
  res.content_type = {};
  res.body = "ignored";
  EXPECT_EQ(serialize_response(res, 11, true),
            "HTTP/1.1 204 No Content\r\nServer: methodhub\r\n\r\n");
}

TEST(HttpResponseWriter, HeaderThatWouldSplitTheResponseIsLeftOut) {
  api::http_response res;
  res.status = 400;
  res.headers = {{"Request-Id", "a\r\nSet-Cookie: x"}, {"X\nY", "v"}, {"Allow", "GET"}};
  auto out = serialize_response(res, 11, true);
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(out.find("X\nY"), std::string::npos);
  EXPECT_NE(out.find("\r\nAllow: GET\r\n"), std::string::npos);
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
}

TEST(HttpResponseWriter, IntoABufferReplacesWhatItHeld) {
  api::http_response res;
  res.body = "{}";
  std::string out = "left over from the previous answer";
  serialize_response(res, 11, true, out);
  EXPECT_EQ(out, serialize_response(res, 11, true));
}

}  // namespace
}  // namespace hub::transport
