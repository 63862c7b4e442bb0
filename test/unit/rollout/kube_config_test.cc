#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "rollout/kube/kube_config.h"
#include "rollout/kube/kubeconfig.h"
#include "rollout/kube/resource.h"

namespace kube = lockstep::kube;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/lockstep-kubecfg-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& data) const {
    std::ofstream(path / name) << data;
    return (path / name).string();
  }
};

}  // namespace

TEST_CASE("resource paths") {
  CHECK(kube::kServices.path("shop") == "/api/v1/namespaces/shop/services");
  CHECK(kube::kServices.path("shop", "web") == "/api/v1/namespaces/shop/services/web");
  CHECK(kube::kScaledObjects.path() == "/apis/keda.sh/v1alpha1/scaledobjects");
  CHECK(kube::kEndpointSlices.path("a", "b") ==
        "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/b");
  CHECK(kube::kRollouts.qualified_name() == "rollouts.argoproj.io");
  CHECK(kube::url_encode("app in (a,b)") == "app%20in%20%28a%2Cb%29");
}

TEST_CASE("server URLs") {
  std::string host, error;
  uint16_t port = 0;
  REQUIRE(kube::parse_server_url("https://10.96.0.1", host, port, error));
  CHECK(host == "10.96.0.1");
  CHECK(port == 443);
  REQUIRE(kube::parse_server_url("https://[fd00::1]:6443/", host, port, error));
  CHECK(host == "fd00::1");
  CHECK(port == 6443);
  REQUIRE(kube::parse_server_url("https://api.example.com:8443", host, port, error));
  CHECK(host == "api.example.com");
  CHECK(port == 8443);
  CHECK_FALSE(kube::parse_server_url("http://10.0.0.1", host, port, error));
  CHECK(error.find("https") != std::string::npos);
  CHECK_FALSE(kube::parse_server_url("https://10.0.0.1:99999", host, port, error));
  CHECK_FALSE(kube::parse_server_url("https://10.0.0.1/prefix", host, port, error));
  CHECK_FALSE(kube::parse_server_url("https://[::1", host, port, error));
}

TEST_CASE("in-cluster configuration from the environment and service-account files") {
  TempDir dir;
  kube::InClusterPaths paths;
  paths.token = dir.write("token", "tok-1\n");
  paths.ca = dir.write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
  paths.namespace_file = dir.write("namespace", "lockstep\n");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  kube::KubeConfig cfg;
  std::string error;
  REQUIRE(kube::in_cluster_config(cfg, error, paths));
  CHECK(cfg.host == "10.96.0.1");
  CHECK(cfg.port == 443);
  CHECK(cfg.token == "tok-1");
  CHECK(cfg.token_file == paths.token);
  CHECK(cfg.default_namespace == "lockstep");
  CHECK(cfg.server_url() == "https://10.96.0.1:443");

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  REQUIRE(kube::in_cluster_config(cfg, error, paths));
  CHECK(cfg.server_url() == "https://[fd00::1]:443");

  ::setenv("KUBERNETES_SERVICE_PORT", "http", 1);
  CHECK_FALSE(kube::in_cluster_config(cfg, error, paths));
  CHECK(error.find("KUBERNETES_SERVICE_PORT") != std::string::npos);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  paths.token = (dir.path / "missing").string();
  CHECK_FALSE(kube::in_cluster_config(cfg, error, paths));
  CHECK(error.find("token") != std::string::npos);
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  CHECK_FALSE(kube::in_cluster_config(cfg, error, paths));
  CHECK(error.find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_CASE("base64") {
  std::string out;
  REQUIRE(kube::base64_decode("aGVsbG8gd29ybGQ=", out));
  CHECK(out == "hello world");
  REQUIRE(kube::base64_decode("aGVs\nbG8", out));
  CHECK(out == "hello");
  CHECK_FALSE(kube::base64_decode("aGV*", out));
  CHECK_FALSE(kube::base64_decode("aG=x", out));
}

TEST_CASE("kubeconfig: current context, data fields and files") {
  TempDir dir;
  dir.write("ca.pem", "CA-FROM-FILE");
  dir.write("token", "file-token\n");
  const std::string text = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: UFJPRC1DQQ==
- name: dev
  cluster:
    server: https://127.0.0.1:7443
    certificate-authority: ca.pem
    tls-server-name: kubernetes.default
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: shop}
- name: dev
  context: {cluster: dev, user: dev-user}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: dev-user
  user:
    tokenFile: token
)";
  kube::KubeConfig cfg;
  std::string error;
  REQUIRE(kube::parse_kubeconfig(text, dir.path.string(), "", cfg, error));
  CHECK(cfg.host == "127.0.0.1");
  CHECK(cfg.port == 7443);
  CHECK(cfg.ca_pem == "CA-FROM-FILE");
  CHECK(cfg.tls_server_name == "kubernetes.default");
  CHECK(cfg.token == "file-token\n");
  CHECK(cfg.token_file == (dir.path / "token").string());

  REQUIRE(kube::parse_kubeconfig(text, dir.path.string(), "prod", cfg, error));
  CHECK(cfg.host == "10.0.0.1");
  CHECK(cfg.ca_pem == "PROD-CA");
  CHECK(cfg.client_cert_pem == "CERT");
  CHECK(cfg.client_key_pem == "KEY");
  CHECK(cfg.default_namespace == "shop");

  CHECK_FALSE(kube::parse_kubeconfig(text, dir.path.string(), "nope", cfg, error));
  CHECK(error.find("no context named \"nope\"") != std::string::npos);

  const std::string exec_user = R"(
current-context: c
clusters: [{name: c, cluster: {server: "https://1.2.3.4"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {exec: {command: aws}}}]
)";
  CHECK_FALSE(kube::parse_kubeconfig(exec_user, "", "", cfg, error));
  CHECK(error.find("users[u].user.exec") != std::string::npos);

  const std::string bad_b64 = R"(
current-context: c
clusters: [{name: c, cluster: {server: "https://1.2.3.4", certificate-authority-data: "@@"}}]
contexts: [{name: c, context: {cluster: c}}]
)";
  CHECK_FALSE(kube::parse_kubeconfig(bad_b64, "", "", cfg, error));
  CHECK(error.find("certificate-authority-data") != std::string::npos);
  CHECK_FALSE(kube::parse_kubeconfig("[1, 2", "", "", cfg, error));
  CHECK(error.find("YAML") != std::string::npos);

  const std::string path = dir.write("config", text);
  REQUIRE(kube::load_kubeconfig(path, "prod", cfg, error));
  CHECK(cfg.port == 6443);
  CHECK_FALSE(kube::load_kubeconfig((dir.path / "missing").string(), "", cfg, error));
  CHECK(error.find("missing") != std::string::npos);
}
