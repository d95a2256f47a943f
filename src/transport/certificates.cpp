#include "transport/certificates.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace hub::transport {
namespace {

template <auto fn>
struct deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    fn(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES_free>>;

constexpr long ca_days = 3650;
constexpr long server_days = 825;
constexpr long renew_before_days = 30;
constexpr long backdate_seconds = 3600;  // tolerate clients whose clock is a little behind

[[noreturn]] void fail(std::string_view what) {
  std::string message = "TLS certificates: " + std::string(what);
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    message += " (";
    message += buf;
    message += ')';
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

[[noreturn]] void fail_errno(const std::filesystem::path& file, std::string_view what) {
  fail(file.string() + ": " + std::string(what) + ": " + std::strerror(errno));
}

// ---- files ----

// Creates the temp file with its final mode (O_EXCL after removing a stale one, so no planted
// symlink is followed and a key is never world-readable, even briefly), then renames it over.
void write_file_atomically(const std::filesystem::path& file, std::string_view data, mode_t mode) {
  const auto tmp = std::filesystem::path(file).concat(".tmp");
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail_errno(tmp, "cannot create");
  bool ok = ::fchmod(fd, mode) == 0;
  while (ok && !data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) data.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  if (::close(fd) != 0) ok = false;
  if (!ok) {
    errno = saved;
    ::unlink(tmp.c_str());
    fail_errno(tmp, "write failed");
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail_errno(file, "rename failed");
  }
  const int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::optional<std::string> read_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
  if (std::filesystem::file_size(file, ec) > (1 << 20) || ec) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bio_ptr mem_bio(std::string_view text) {
  bio_ptr b(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!b) fail("BIO_new_mem_buf failed");
  return b;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string{};
}

// Unreadable or unparsable files are treated as absent: the caller then makes new ones.
x509_ptr load_cert(const std::filesystem::path& file) {
  const auto text = read_file(file);
  if (!text) return nullptr;
  auto b = mem_bio(*text);
  x509_ptr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return c;
}

pkey_ptr load_key(const std::filesystem::path& file) {
  const auto text = read_file(file);
  if (!text) return nullptr;
  auto b = mem_bio(*text);
  pkey_ptr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return k;
}

std::string cert_pem(X509* c) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) fail("PEM_write_bio_X509 failed");
  return bio_text(b.get());
}

std::string key_pem(EVP_PKEY* k) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("PEM_write_bio_PrivateKey failed");
  return bio_text(b.get());
}

// ---- building certificates ----

pkey_ptr new_p256_key() {
  pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!k) fail("P-256 key generation failed");
  return k;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    fail("RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) out += digits[c >> 4], out += digits[c & 15];
  return out;
}

void set_random_serial(X509* c) {
  unsigned char raw[16];
  bn_ptr bn;
  do {
    if (RAND_bytes(raw, sizeof raw) != 1) fail("RAND_bytes failed");
    bn.reset(BN_bin2bn(raw, sizeof raw, nullptr));  // unsigned, so the serial is positive
    if (!bn) fail("BN_bin2bn failed");
  } while (BN_is_zero(bn.get()));
  if (BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c)) == nullptr)
    fail("setting the serial number failed");
}

void set_cn(X509_NAME* name, std::string_view cn) {
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1)
    fail("setting the subject CN failed");
}

// Fixed extension strings only; host names go through build_sans, never through this parser.
void add_ext(X509* subject, X509* issuer, EVP_PKEY* issuer_key, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  if (X509V3_set_issuer_pkey(&ctx, issuer_key) != 1) fail("X509V3_set_issuer_pkey failed");
  ext_ptr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(subject, ext.get(), -1) != 1)
    fail(std::string("adding extension ") + OBJ_nid2sn(nid) + " failed");
}

x509_ptr new_cert_skeleton(EVP_PKEY* key, long days) {
  x509_ptr c(X509_new());
  if (!c) fail("X509_new failed");
  if (X509_set_version(c.get(), X509_VERSION_3) != 1) fail("X509_set_version failed");
  set_random_serial(c.get());
  if (X509_gmtime_adj(X509_getm_notBefore(c.get()), -backdate_seconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(c.get()), static_cast<int>(days), 0, nullptr) == nullptr)
    fail("setting the validity failed");
  if (X509_set_pubkey(c.get(), key) != 1) fail("X509_set_pubkey failed");
  return c;
}

x509_ptr make_ca(EVP_PKEY* key) {
  auto c = new_cert_skeleton(key, ca_days);
  set_cn(X509_get_subject_name(c.get()), "methodhub local CA " + random_hex(8));
  if (X509_set_issuer_name(c.get(), X509_get_subject_name(c.get())) != 1)
    fail("X509_set_issuer_name failed");
  add_ext(c.get(), c.get(), key, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(c.get(), c.get(), key, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(c.get(), c.get(), key, NID_subject_key_identifier, "hash");
  add_ext(c.get(), c.get(), key, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(c.get(), key, EVP_sha256()) <= 0) fail("signing the CA certificate failed");
  return c;
}

bool is_ip_literal(std::string_view host) {
  const std::string s(host);
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

void push_name(GENERAL_NAMES* names, std::string_view value, bool ip) {
  GENERAL_NAME* gn = nullptr;
  if (ip) {
    ASN1_OCTET_STRING* addr = a2i_IPADDRESS(std::string(value).c_str());
    if (addr == nullptr) fail("bad IP address for a SAN");
    gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_OCTET_STRING_free(addr);
      fail("GENERAL_NAME_new failed");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, addr);
  } else {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    if (dns == nullptr || ASN1_STRING_set(dns, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(dns);
      fail("building a DNS SAN failed");
    }
    gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_IA5STRING_free(dns);
      fail("GENERAL_NAME_new failed");
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
  }
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    fail("sk_GENERAL_NAME_push failed");
  }
}

x509_ptr make_server(EVP_PKEY* key, X509* ca, EVP_PKEY* ca_key, std::string_view hostname) {
  auto c = new_cert_skeleton(key, server_days);
  // CN is limited to 64 characters; clients match on the SANs anyway.
  set_cn(X509_get_subject_name(c.get()), hostname.size() <= 64 ? hostname : "methodhub");
  if (X509_set_issuer_name(c.get(), X509_get_subject_name(ca)) != 1)
    fail("X509_set_issuer_name failed");
  add_ext(c.get(), ca, ca_key, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c.get(), ca, ca_key, NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_ext(c.get(), ca, ca_key, NID_ext_key_usage, "serverAuth");
  add_ext(c.get(), ca, ca_key, NID_subject_key_identifier, "hash");
  add_ext(c.get(), ca, ca_key, NID_authority_key_identifier, "keyid:always");

  names_ptr names(sk_GENERAL_NAME_new_null());
  if (!names) fail("sk_GENERAL_NAME_new_null failed");
  const bool host_is_ip = is_ip_literal(hostname);
  push_name(names.get(), hostname, host_is_ip);
  if (hostname != "localhost") push_name(names.get(), "localhost", false);
  if (hostname != "127.0.0.1") push_name(names.get(), "127.0.0.1", true);
  if (hostname != "::1") push_name(names.get(), "::1", true);
  if (X509_add1_ext_i2d(c.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
    fail("adding subjectAltName failed");

  if (X509_sign(c.get(), ca_key, EVP_sha256()) <= 0) fail("signing the server certificate failed");
  return c;
}

// ---- checks on existing files ----

bool valid_for_a_while(X509* c) {
  std::time_t soon = std::time(nullptr) + renew_before_days * 24 * 3600;
  return X509_cmp_time(X509_get0_notAfter(c), &soon) > 0;
}

bool names_host(X509* c, std::string_view hostname) {
  const std::string h(hostname);
  if (is_ip_literal(hostname)) return X509_check_ip_asc(c, h.c_str(), 0) == 1;
  return X509_check_host(c, h.data(), h.size(),
                         X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS,
                         nullptr) == 1;
}

bool issued_by(X509* leaf, X509* ca, EVP_PKEY* ca_key) {
  return X509_check_issued(ca, leaf) == X509_V_OK && X509_verify(leaf, ca_key) == 1;
}

void check_hostname(std::string_view hostname) {
  if (hostname.empty() || hostname.size() > 253) fail("hostname must be 1..253 characters");
  if (is_ip_literal(hostname)) return;
  for (char c : hostname) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) fail("hostname \"" + std::string(hostname) + "\" has a character not allowed in DNS");
  }
}

}  // namespace

tls_files ensure_certificates(const std::filesystem::path& data_dir, std::string_view hostname) {
  check_hostname(hostname);
  const auto dir = data_dir / "tls";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir.string() + ": cannot create directory: " + ec.message());

  tls_files files{dir / "ca.pem", dir / "server.pem", dir / "server-key.pem", false};
  const auto ca_key_file = dir / "ca-key.pem";

  auto ca = load_cert(files.ca_cert);
  auto ca_key = load_key(ca_key_file);
  bool new_ca = !ca || !ca_key || X509_check_private_key(ca.get(), ca_key.get()) != 1 ||
                X509_check_ca(ca.get()) == 0 || !valid_for_a_while(ca.get());
  ERR_clear_error();
  if (new_ca) {
    ca_key = new_p256_key();
    ca = make_ca(ca_key.get());
    // Key first: if we stop in between, the old ca.pem no longer matches and both are redone.
    write_file_atomically(ca_key_file, key_pem(ca_key.get()), 0600);
    write_file_atomically(files.ca_cert, cert_pem(ca.get()), 0644);
    files.generated = true;
  }

  auto leaf = new_ca ? nullptr : load_cert(files.server_chain);
  auto leaf_key = new_ca ? nullptr : load_key(files.server_key);
  const bool reuse = leaf && leaf_key && X509_check_private_key(leaf.get(), leaf_key.get()) == 1 &&
                     issued_by(leaf.get(), ca.get(), ca_key.get()) &&
                     names_host(leaf.get(), hostname) && valid_for_a_while(leaf.get());
  ERR_clear_error();
  if (!reuse) {
    leaf_key = new_p256_key();
    leaf = make_server(leaf_key.get(), ca.get(), ca_key.get(), hostname);
    write_file_atomically(files.server_key, key_pem(leaf_key.get()), 0600);
    write_file_atomically(files.server_chain, cert_pem(leaf.get()) + cert_pem(ca.get()), 0644);
    files.generated = true;
  }
  return files;
}

}  // namespace hub::transport
