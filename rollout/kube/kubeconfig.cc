#include "rollout/kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

namespace lockstep::kube {
namespace {

// Finds the entry called `name` in a kubeconfig list (clusters, users, contexts) and returns its
// inner map (`field`), or a null node.
YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* field) {
  if (!list || !list.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& item : list) {
    if (!item.IsMap()) continue;
    const YAML::Node n = item["name"];
    if (n && n.IsScalar() && n.Scalar() == name) {
      const YAML::Node inner = item[field];
      if (inner && inner.IsMap()) return inner;
      return YAML::Node(YAML::NodeType::Map);
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string scalar(const YAML::Node& map, const char* key) {
  const YAML::Node n = map[key];
  if (n && n.IsScalar()) return n.Scalar();
  return {};
}

std::string resolve_path(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file.front() == '/' || base_dir.empty()) return file;
  return base_dir + "/" + file;
}

// Reads "<key>-data" (base64) or "<key>" (a file) into `out`.
bool data_or_file(const YAML::Node& map, const std::string& key, const std::string& base_dir,
                  const std::string& where, std::string& out, std::string& error) {
  const std::string data = scalar(map, (key + "-data").c_str());
  if (!data.empty()) {
    if (!base64_decode(data, out)) {
      error = where + "." + key + "-data: not valid base64";
      return false;
    }
    return true;
  }
  const std::string file = scalar(map, key.c_str());
  if (!file.empty()) {
    std::string why;
    if (!read_small_file(resolve_path(base_dir, file), out, why)) {
      error = where + "." + key + ": " + why;
      return false;
    }
  }
  return true;
}

}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding) return false;  // data after padding
    const int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return bits < 6;  // a lone trailing sextet cannot encode a byte
}

bool parse_kubeconfig(const std::string& text, const std::string& base_dir,
                      const std::string& context, KubeConfig& out, std::string& error) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    error = std::string("not valid YAML: ") + e.what();
    return false;
  }
  if (!root || !root.IsMap()) {
    error = "not a kubeconfig (expected a map at the top)";
    return false;
  }
  try {
    std::string ctx_name = context.empty() ? scalar(root, "current-context") : context;
    if (ctx_name.empty()) {
      error = "current-context: not set and no context given";
      return false;
    }
    const YAML::Node ctx = find_named(root["contexts"], ctx_name, "context");
    if (!ctx) {
      error = "contexts: no context named \"" + ctx_name + "\"";
      return false;
    }
    const std::string cluster_name = scalar(ctx, "cluster");
    const std::string user_name = scalar(ctx, "user");
    const YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster) {
      error = "clusters: no cluster named \"" + cluster_name + "\" (context \"" + ctx_name + "\")";
      return false;
    }
    KubeConfig cfg;
    const std::string where_c = "clusters[" + cluster_name + "].cluster";
    const std::string server = scalar(cluster, "server");
    if (server.empty()) {
      error = where_c + ".server: required";
      return false;
    }
    std::string why;
    if (!parse_server_url(server, cfg.host, cfg.port, why)) {
      error = where_c + ".server: " + why;
      return false;
    }
    if (!data_or_file(cluster, "certificate-authority", base_dir, where_c, cfg.ca_pem, error)) {
      return false;
    }
    const std::string insecure = scalar(cluster, "insecure-skip-tls-verify");
    cfg.insecure_skip_tls_verify = insecure == "true";
    cfg.tls_server_name = scalar(cluster, "tls-server-name");
    cfg.default_namespace = scalar(ctx, "namespace");
    if (!user_name.empty()) {
      const YAML::Node user = find_named(root["users"], user_name, "user");
      if (!user) {
        error = "users: no user named \"" + user_name + "\" (context \"" + ctx_name + "\")";
        return false;
      }
      const std::string where_u = "users[" + user_name + "].user";
      for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
        if (user[unsupported]) {
          error = where_u + "." + unsupported +
                  ": not supported by lockstep (use a token, tokenFile or client certificate)";
          return false;
        }
      }
      cfg.token = scalar(user, "token");
      const std::string token_file = scalar(user, "tokenFile");
      if (!token_file.empty()) {
        cfg.token_file = resolve_path(base_dir, token_file);
        if (!read_small_file(cfg.token_file, cfg.token, why)) {
          error = where_u + ".tokenFile: " + why;
          return false;
        }
      }
      if (!data_or_file(user, "client-certificate", base_dir, where_u, cfg.client_cert_pem,
                        error) ||
          !data_or_file(user, "client-key", base_dir, where_u, cfg.client_key_pem, error)) {
        return false;
      }
      if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty()) {
        error = where_u + ": client-certificate and client-key must be given together";
        return false;
      }
    }
    out = std::move(cfg);
    return true;
  } catch (const YAML::Exception& e) {
    error = std::string("kubeconfig: ") + e.what();
    return false;
  }
}

bool load_kubeconfig(const std::string& path, const std::string& context, KubeConfig& out,
                     std::string& error) {
  std::string file = path;
  if (file.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
      file = env;
      if (auto colon = file.find(':'); colon != std::string::npos) file.resize(colon);
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      file = std::string(home) + "/.kube/config";
    } else {
      error = "no kubeconfig: neither a path, $KUBECONFIG nor $HOME is set";
      return false;
    }
  }
  std::string text;
  if (!read_small_file(file, text, error, 16 << 20)) return false;
  const size_t slash = file.rfind('/');
  const std::string base_dir = slash == std::string::npos ? "." : file.substr(0, slash);
  if (!parse_kubeconfig(text, base_dir, context, out, error)) {
    error = file + ": " + error;
    return false;
  }
  return true;
}

}  // namespace lockstep::kube
