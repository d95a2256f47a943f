#pragma once
// The hub's own TLS material: a local CA and a server certificate it issues, kept under
// `<data_dir>/tls/` so clients can be told to trust `ca.pem` once (spec/protocol.md §3.1: the
// SDKs verify the server certificate against the host name they were given).
//
// Startup only: not for use while serving. Not thread-safe against another process or thread
// calling it on the same data_dir at the same time.

#include <filesystem>
#include <string_view>

namespace hub::transport {

struct tls_files {
  std::filesystem::path ca_cert;       // ca.pem: give this to clients to trust
  std::filesystem::path server_chain;  // server.pem: leaf followed by the CA certificate
  std::filesystem::path server_key;    // server-key.pem
  bool generated = false;              // true if anything was (re)issued by this call
};

/// Makes sure `<data_dir>/tls/` holds usable TLS files and returns their paths.
///  - `ca.pem` + `ca-key.pem`: EC P-256 self-signed CA, 10 years, basicConstraints CA:TRUE
///    (critical), keyUsage keyCertSign+cRLSign (critical), SKI/AKI, subject
///    "CN=methodhub local CA <random hex>". Created if either file is missing or unusable, or if
///    the CA expires within 30 days (which also forces a new server certificate).
///  - `server.pem` (leaf + CA) + `server-key.pem`: EC P-256, CN=<hostname>, SANs <hostname>
///    (DNS, or IP if it is an address literal), DNS:localhost, IP:127.0.0.1, IP:::1;
///    extendedKeyUsage serverAuth; 825 days; random positive 128-bit serial; SKI/AKI. Reissued
///    from the existing CA, so clients trusting the CA keep working, when missing, not signed by
///    the CA, not matching its key, lacking `hostname` among its SANs, or expiring within 30 days.
/// Private keys are written with mode 0600, certificates 0644, each file atomically (temp file,
/// fsync, rename). Throws std::runtime_error naming the file or step on any failure.
tls_files ensure_certificates(const std::filesystem::path& data_dir, std::string_view hostname);

}  // namespace hub::transport
