// lockstep-proxy to scaler over TLS and mutual TLS (scalerTls.*), with certificates made by the
// openssl command line for this test: a CA, a server certificate for "scaler.lockstep.test" and a
// client certificate. The replica is dialled by IP, so serverName must carry the certificate name.
#include <doctest/doctest.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/integration/proxy/proxy_test_support.h"

namespace lockstep::proxy::testing {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Certs {
  Certs() {
    dir = std::filesystem::temp_directory_path() /
          ("lockstep-proxy-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string d = dir.string();
    const std::string script =
        "set -e; cd " + d + ";"
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lockstep-test-ca "
        "  -keyout ca.key -out ca.crt 2>/dev/null;"
        "printf 'subjectAltName=DNS:scaler.lockstep.test\\n' > san.ext;"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=scaler.lockstep.test -keyout server.key "
        "  -out server.csr 2>/dev/null;"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile san.ext -out server.crt 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=proxy -keyout client.key -out client.csr "
        "  2>/dev/null;"
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -out client.crt 2>/dev/null";
    ok = std::system(("bash -c \"" + script + "\"").c_str()) == 0;
  }
  ~Certs() { std::filesystem::remove_all(dir); }
  std::string path(const char* name) const { return (dir / name).string(); }
  std::filesystem::path dir;
  bool ok = false;
};

std::shared_ptr<grpc::ServerCredentials> server_tls(const Certs& c, bool require_client) {
  grpc::SslServerCredentialsOptions o(require_client
                                          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  o.pem_root_certs = slurp(c.dir / "ca.crt");
  o.pem_key_cert_pairs.push_back({slurp(c.dir / "server.key"), slurp(c.dir / "server.crt")});
  return grpc::SslServerCredentials(o);
}

v1::RouteTable table(uint16_t port) {
  v1::RouteTable t;
  t.set_version(9);
  add_backend(add_route(t, "ns/secure", {"secure.example.com"}), "secure", 100, v1::ROLE_STABLE,
              {port});
  return t;
}

TEST_CASE("routes and reports flow over mutual TLS to a replica dialled by IP") {
  Certs certs;
  REQUIRE(certs.ok);
  SystemClock clock;
  TestBackend backend("secure");
  FakeScaler scaler(0, nullptr, server_tls(certs, true));
  scaler.set_table(table(backend.port()));
  ProxyHarness proxy({scaler.address()}, clock, [&](ProxySettings& s) {
    s.scaler_tls.ca_file = certs.path("ca.crt");
    s.scaler_tls.cert_file = certs.path("client.crt");
    s.scaler_tls.key_file = certs.path("client.key");
    s.scaler_tls.server_name = "scaler.lockstep.test";
  });
  REQUIRE(proxy.wait_applied(9));
  TestClient c(proxy.port());
  for (int i = 0; i < 10; ++i) REQUIRE(c.get("secure.example.com", "/").status == 200);
  CHECK(wait_until([&] { return scaler.counted("ns/secure", "secure") == 10; }));
}

TEST_CASE("without the client certificate a mutual-TLS replica refuses the proxy") {
  Certs certs;
  REQUIRE(certs.ok);
  SystemClock clock;
  FakeScaler scaler(0, nullptr, server_tls(certs, true));
  scaler.set_table(table(1));
  ProxyHarness proxy({scaler.address()}, clock, [&](ProxySettings& s) {
    s.scaler_tls.ca_file = certs.path("ca.crt");
    s.scaler_tls.server_name = "scaler.lockstep.test";
  });
  CHECK_FALSE(proxy.wait_applied(9, std::chrono::milliseconds(1500)));
  CHECK(scaler.report_streams_opened() == 0);
}

TEST_CASE("settings refuse half a TLS configuration, naming the key") {
  auto r = load_settings_from("scalerTls:\n  serverName: x\n  certFile: /nonexistent\n",
                              {"--scalers=a:1"});
  REQUIRE_FALSE(r.settings);
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  CHECK(all.find("scalerTls.certFile: cannot read \"/nonexistent\"") != std::string::npos);
}

}  // namespace
}  // namespace lockstep::proxy::testing
