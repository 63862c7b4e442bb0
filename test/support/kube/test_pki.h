#pragma once

#include <memory>
#include <string>
#include <vector>

namespace lockstep::testing {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// A throw-away certificate authority generated at test time (EC P-256, valid for one day), and
// certificates it issues for TLS servers and clients. Nothing is read from or written to disk
// unless write_file() is called.
class TestPki {
 public:
  explicit TestPki(const std::string& ca_name = "lockstep-test-ca");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_pem() const { return ca_pem_; }
  // A server certificate with these IP and DNS subject alternative names.
  CertAndKey issue_server(const std::vector<std::string>& ips = {"127.0.0.1", "::1"},
                          const std::vector<std::string>& dns = {"localhost"}) const;
  // A client certificate; the API server reads the user from CN and groups from O.
  CertAndKey issue_client(const std::string& common_name,
                          const std::string& organization = "") const;

  // Writes `data` to `path` (for tools such as kubectl); throws on failure.
  static void write_file(const std::string& path, const std::string& data);

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
  std::string ca_pem_;
};

}  // namespace lockstep::testing
