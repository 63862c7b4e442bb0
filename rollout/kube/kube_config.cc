#include "rollout/kube/kube_config.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lockstep::kube {

std::string KubeConfig::server_url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool read_small_file(const std::string& path, std::string& out, std::string& error,
                     size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  std::string data;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) {
      error = path + ": larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
  }
  if (in.bad()) {
    error = path + ": read error";
    return false;
  }
  out = std::move(data);
  return true;
}

namespace {

bool parse_port(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

std::string trim(std::string s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\n' && c != '\r' && c != '\t'; };
  size_t b = 0;
  while (b < s.size() && !not_space(s[b])) ++b;
  size_t e = s.size();
  while (e > b && !not_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

bool parse_server_url(const std::string& url, std::string& host, uint16_t& port,
                      std::string& error) {
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) {
    error = "server \"" + url + "\": only https:// API servers are supported";
    return false;
  }
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      error = "server \"" + url + "\": a path after the host is not supported";
      return false;
    }
    rest = rest.substr(0, slash);
  }
  std::string_view h;
  std::string_view p;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      error = "server \"" + url + "\": unterminated '[' in an IPv6 address";
      return false;
    }
    h = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "server \"" + url + "\": expected ':' after ']'";
        return false;
      }
      p = after.substr(1);
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      h = rest.substr(0, colon);
      p = rest.substr(colon + 1);
    } else {
      h = rest;
    }
  }
  if (h.empty()) {
    error = "server \"" + url + "\": empty host";
    return false;
  }
  port = 443;
  if (!p.empty() && !parse_port(p, port)) {
    error = "server \"" + url + "\": port must be 1..65535";
    return false;
  }
  host = std::string(h);
  return true;
}

bool in_cluster_config(KubeConfig& out, std::string& error, const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    error =
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set";
    return false;
  }
  KubeConfig cfg;
  cfg.host = host;
  if (!cfg.host.empty() && cfg.host.front() == '[' && cfg.host.back() == ']') {
    cfg.host = cfg.host.substr(1, cfg.host.size() - 2);
  }
  if (!parse_port(port, cfg.port)) {
    error = std::string("KUBERNETES_SERVICE_PORT=\"") + port + "\": must be 1..65535";
    return false;
  }
  std::string why;
  std::string token;
  if (!read_small_file(paths.token, token, why)) {
    error = "service-account token: " + why;
    return false;
  }
  cfg.token_file = paths.token;
  cfg.token = trim(token);
  if (!read_small_file(paths.ca, cfg.ca_pem, why)) {
    error = "service-account CA: " + why;
    return false;
  }
  std::string ns;
  if (read_small_file(paths.namespace_file, ns, why)) cfg.default_namespace = trim(ns);
  out = std::move(cfg);
  return true;
}

}  // namespace lockstep::kube
