#include "transport/certificates.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace hub::transport {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::filesystem::path& p, std::string_view text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

struct x509_free_t {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_free_t>;

std::vector<x509_ptr> read_certs(const std::filesystem::path& p) {
  const auto text = slurp(p);
  BIO* b = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  std::vector<x509_ptr> out;
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) out.emplace_back(x);
  BIO_free(b);
  return out;
}

EVP_PKEY* read_key(const std::filesystem::path& p) {
  const auto text = slurp(p);
  BIO* b = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return k;
}

// X509_verify_cert of server.pem's leaf, with the rest of server.pem as untrusted
// intermediates, ca.pem as the only trust anchor, and `host` as the expected name.
int verify_chain(const tls_files& f, std::string_view host) {
  const auto ca = read_certs(f.ca_cert);
  const auto chain = read_certs(f.server_chain);
  if (ca.size() != 1 || chain.empty()) return -1;
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca[0].get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (std::size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host.data(), host.size());
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  return ok == 1 ? 0 : (err == 0 ? -2 : err);
}

class CertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("methodhub-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CertificatesTest, FirstStartCreatesAVerifiableChain) {
  const auto f = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(f.generated);
  EXPECT_EQ(f.ca_cert, dir_ / "tls" / "ca.pem");
  EXPECT_EQ(f.server_chain, dir_ / "tls" / "server.pem");
  EXPECT_EQ(f.server_key, dir_ / "tls" / "server-key.pem");
  EXPECT_EQ(mode_of(f.server_key), 0600u);
  EXPECT_EQ(mode_of(dir_ / "tls" / "ca-key.pem"), 0600u);
  EXPECT_EQ(mode_of(f.ca_cert), 0644u);

  EXPECT_EQ(verify_chain(f, "hub.example.lan"), 0);
  EXPECT_EQ(verify_chain(f, "HUB.EXAMPLE.LAN"), 0);
  EXPECT_EQ(verify_chain(f, "localhost"), 0);
  EXPECT_NE(verify_chain(f, "other.example.lan"), 0);

  const auto chain = read_certs(f.server_chain);
  ASSERT_EQ(chain.size(), 2u);
  X509* leaf = chain[0].get();
  EXPECT_EQ(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "::1", 0), 1);
  EXPECT_EQ(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_ca(leaf), 0);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(leaf)), 256);
  EXPECT_NE(X509_get0_subject_key_id(leaf), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf), nullptr);

  const auto ca = read_certs(f.ca_cert);
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_EQ(X509_cmp(ca[0].get(), chain[1].get()), 0);  // the chain ends with the CA
  EXPECT_EQ(X509_check_ca(ca[0].get()), 1);
  EXPECT_TRUE(X509_get_extension_flags(ca[0].get()) & EXFLAG_CA);
  EXPECT_EQ(X509_get_key_usage(ca[0].get()), unsigned{KU_KEY_CERT_SIGN | KU_CRL_SIGN});
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca[0].get()), NID_commonName, cn, sizeof cn);
  EXPECT_EQ(std::string_view(cn).substr(0, 19), "methodhub local CA ");

  // Leaf and CA key match their certificates.
  EVP_PKEY* key = read_key(f.server_key);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(leaf, key), 1);
  EVP_PKEY_free(key);
}

TEST_F(CertificatesTest, SecondStartReusesEverything) {
  const auto first = ensure_certificates(dir_, "hub.example.lan");
  const auto ca = slurp(first.ca_cert), chain = slurp(first.server_chain),
             key = slurp(first.server_key);
  const auto second = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_FALSE(second.generated);
  EXPECT_EQ(slurp(second.ca_cert), ca);
  EXPECT_EQ(slurp(second.server_chain), chain);
  EXPECT_EQ(slurp(second.server_key), key);
  // The hostname is matched case-insensitively too.
  EXPECT_FALSE(ensure_certificates(dir_, "HUB.example.lan").generated);
}

TEST_F(CertificatesTest, NewHostnameReissuesFromTheSameCa) {
  const auto first = ensure_certificates(dir_, "hub.example.lan");
  const auto ca = slurp(first.ca_cert), chain = slurp(first.server_chain);
  const auto second = ensure_certificates(dir_, "hub2.example.lan");
  EXPECT_TRUE(second.generated);
  EXPECT_EQ(slurp(second.ca_cert), ca);
  EXPECT_NE(slurp(second.server_chain), chain);
  EXPECT_EQ(verify_chain(second, "hub2.example.lan"), 0);
  EXPECT_EQ(mode_of(second.server_key), 0600u);
  EXPECT_FALSE(ensure_certificates(dir_, "hub2.example.lan").generated);
}

TEST_F(CertificatesTest, IpHostname) {
  const auto f = ensure_certificates(dir_, "192.168.1.10");
  const auto chain = read_certs(f.server_chain);
  ASSERT_FALSE(chain.empty());
  EXPECT_EQ(X509_check_ip_asc(chain[0].get(), "192.168.1.10", 0), 1);
  EXPECT_FALSE(ensure_certificates(dir_, "192.168.1.10").generated);
}

TEST_F(CertificatesTest, DamagedFilesAreReplaced) {
  const auto first = ensure_certificates(dir_, "hub.example.lan");
  const auto ca = slurp(first.ca_cert);

  spit(first.server_chain, "garbage");
  auto f = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(f.generated);
  EXPECT_EQ(slurp(f.ca_cert), ca);
  EXPECT_EQ(verify_chain(f, "hub.example.lan"), 0);

  // A server key that does not match the certificate.
  const auto other = dir_ / "other";
  const auto g = ensure_certificates(other, "hub.example.lan");
  std::filesystem::copy_file(g.server_key, f.server_key,
                             std::filesystem::copy_options::overwrite_existing);
  f = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(f.generated);
  EXPECT_EQ(slurp(f.ca_cert), ca);
  EXPECT_EQ(verify_chain(f, "hub.example.lan"), 0);

  // A server certificate from a different CA.
  std::filesystem::copy_file(g.server_chain, f.server_chain,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(g.server_key, f.server_key,
                             std::filesystem::copy_options::overwrite_existing);
  f = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(f.generated);
  EXPECT_EQ(verify_chain(f, "hub.example.lan"), 0);

  // Losing the CA key means a new CA, and a new server certificate under it.
  std::filesystem::remove(dir_ / "tls" / "ca-key.pem");
  f = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(f.generated);
  EXPECT_NE(slurp(f.ca_cert), ca);
  EXPECT_EQ(verify_chain(f, "hub.example.lan"), 0);
}

TEST_F(CertificatesTest, ExpiringServerCertificateIsRenewed) {
  const auto f = ensure_certificates(dir_, "hub.example.lan");
  // Re-sign the current leaf with a 10-day lifetime using the CA's own key.
  auto chain = read_certs(f.server_chain);
  ASSERT_FALSE(chain.empty());
  EVP_PKEY* ca_key = read_key(dir_ / "tls" / "ca-key.pem");
  ASSERT_NE(ca_key, nullptr);
  X509* leaf = chain[0].get();
  X509_time_adj_ex(X509_getm_notAfter(leaf), 10, 0, nullptr);
  ASSERT_GT(X509_sign(leaf, ca_key, EVP_sha256()), 0);
  EVP_PKEY_free(ca_key);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, leaf);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  const std::string short_lived(data, static_cast<std::size_t>(n));
  BIO_free(b);
  spit(f.server_chain, short_lived + slurp(f.ca_cert));
  ASSERT_EQ(verify_chain(f, "hub.example.lan"), 0);  // still valid, just expiring soon

  const auto again = ensure_certificates(dir_, "hub.example.lan");
  EXPECT_TRUE(again.generated);
  const auto renewed = read_certs(again.server_chain);
  ASSERT_FALSE(renewed.empty());
  std::time_t in_a_year = std::time(nullptr) + 365 * 24 * 3600;
  EXPECT_GT(X509_cmp_time(X509_get0_notAfter(renewed[0].get()), &in_a_year), 0);
}

TEST_F(CertificatesTest, BadHostnameThrows) {
  EXPECT_THROW(ensure_certificates(dir_, ""), std::runtime_error);
  EXPECT_THROW(ensure_certificates(dir_, "a,DNS:evil.example"), std::runtime_error);
  EXPECT_THROW(ensure_certificates(dir_, std::string(300, 'a')), std::runtime_error);
}

}  // namespace
}  // namespace hub::transport
