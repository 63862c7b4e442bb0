#include "common/grpc_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>

namespace lockstep {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> open_file(const std::string& path) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_file(path.c_str(), "r"));
}

}  // namespace

std::optional<std::string> check_tls_files(const TlsFiles& f, std::string_view key_prefix) {
  const std::string p(key_prefix);
  if (!f.enabled()) {
    if (!f.client_ca_file.empty()) {
      return p + ".client_ca_file: set without cert_file and key_file (mTLS needs TLS)";
    }
    return std::nullopt;
  }
  if (f.cert_file.empty()) return p + ".cert_file: required when key_file is set";
  if (f.key_file.empty()) return p + ".key_file: required when cert_file is set";
  auto cert_bio = open_file(f.cert_file);
  if (!cert_bio) return p + ".cert_file: cannot read \"" + f.cert_file + "\"";
  std::unique_ptr<X509, X509Deleter> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return p + ".cert_file: \"" + f.cert_file + "\" holds no PEM certificate";
  auto key_bio = open_file(f.key_file);
  if (!key_bio) return p + ".key_file: cannot read \"" + f.key_file + "\"";
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) return p + ".key_file: \"" + f.key_file + "\" holds no PEM private key";
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return p + ".key_file: the key does not match the certificate in \"" + f.cert_file + "\"";
  }
  if (!f.client_ca_file.empty()) {
    auto ca_bio = open_file(f.client_ca_file);
    if (!ca_bio) return p + ".client_ca_file: cannot read \"" + f.client_ca_file + "\"";
    std::unique_ptr<X509, X509Deleter> ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
    if (!ca) return p + ".client_ca_file: \"" + f.client_ca_file + "\" holds no PEM certificate";
  }
  return std::nullopt;
}

std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsFiles& f,
                                                                 unsigned refresh_seconds) {
  if (!f.enabled()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      f.key_file, f.cert_file, f.client_ca_file, refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!f.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace lockstep
