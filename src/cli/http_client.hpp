#pragma once
// A small synchronous HTTP/1.1 client for the CLI: one request per connection, over TCP or TLS.
// Kept apart from the commands so that Beast and Asio are compiled in this one translation unit.

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli/client_support.hpp"

namespace hub::cli {

struct http_request {
  std::string method;  // "GET", "PUT", "POST", "DELETE"
  std::string target;  // origin-form: path and query, already encoded
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given, after Host
  std::string body;
};

struct http_response {
  unsigned status = 0;
  std::string reason;
  std::string iothub_errorcode;  // the `iothub-errorcode` header, empty if absent
  std::string body;
};

struct http_options {
  std::chrono::seconds timeout{30};  // covers connect, TLS handshake, write and read together
  std::filesystem::path ca_file;     // PEM trusted in addition to the system store; may be empty
};

/// Sends `req` to `ep` and reads the whole answer, whatever its status. For TLS it sends SNI
/// when the host is a name and verifies the peer chain and that the certificate names the host.
/// Throws client_error with a message for the user: `cannot connect to <url>: <reason>`, an
/// untrusted TLS certificate (suggesting --ca), a host-name mismatch, a timeout, a connection
/// that closed before the answer. Throws usage_error if `ca_file` cannot be loaded.
http_response perform(const hub_endpoint& ep, const http_request& req, const http_options& opt);

}  // namespace hub::cli
