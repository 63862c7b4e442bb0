#pragma once

#include <cstdint>
#include <string>

namespace lockstep::kube {

// Where an API server is and how to authenticate to it. Built by in_cluster_config(),
// load_kubeconfig() (rollout/kube/kubeconfig.h, a separate target because it needs yaml-cpp) or
// by hand in tests.
struct KubeConfig {
  // IP literal (IPv6 without brackets) or DNS name. An IP literal needs no resolver, which is
  // what a fully static binary wants; a name is resolved with the system resolver.
  std::string host;
  uint16_t port = 443;
  // PEM bundle of CAs that may sign the server certificate. Empty: the system's default roots.
  std::string ca_pem;
  // Disables server certificate verification (kubeconfig's insecure-skip-tls-verify).
  bool insecure_skip_tls_verify = false;
  // Name checked against the server certificate (and sent as SNI when it is a DNS name); empty:
  // `host`.
  std::string tls_server_name;
  // Bearer token. When `token_file` is set it wins, and the file is re-read whenever it changes
  // and after any 401 (service-account tokens are rotated by the kubelet).
  std::string token;
  std::string token_file;
  // Client certificate authentication (PEM); both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Default namespace: the pod's own (in cluster) or the context's (kubeconfig); may be empty.
  std::string default_namespace;

  // "https://host:port" (IPv6 in brackets), for logs.
  std::string server_url() const;
};

// Locations an in-cluster configuration reads; the defaults are Kubernetes' standard ones.
struct InClusterPaths {
  std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// Reads KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the service-account files. On
// failure returns false with `error` naming the variable or file and the reason.
bool in_cluster_config(KubeConfig& out, std::string& error, const InClusterPaths& paths = {});

// Splits "https://host[:port][/]" into host and port (443 by default); IPv6 hosts in brackets.
// Only https is accepted.
bool parse_server_url(const std::string& url, std::string& host, uint16_t& port,
                      std::string& error);

// Reads a whole file (up to `max_bytes`); false with `error` on failure.
bool read_small_file(const std::string& path, std::string& out, std::string& error,
                     size_t max_bytes = 1 << 20);

}  // namespace lockstep::kube
