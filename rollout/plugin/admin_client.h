#pragma once

// A one-shot HTTP/1.1 GET to an IP literal, for the scaler replicas' admin endpoints. No DNS and
// no TLS (the admin port is cluster-internal, as /metrics is); every call ends by its deadline.

#include <chrono>
#include <cstdint>
#include <string>

namespace lockstep::plugin {

// True for an IPv4 or IPv6 literal (what the plugin may connect to without a resolver).
bool is_ip_literal(const std::string& host);

struct AdminResponse {
  int status = 0;     // 0 when no response arrived
  std::string body;
  std::string error;  // connect/read failure or timeout
};

// `host` is an IPv4 or IPv6 literal; `target` the path and query.
AdminResponse admin_get(const std::string& host, uint16_t port, const std::string& target,
                        std::chrono::milliseconds timeout, size_t max_body_bytes = 1 << 20);

}  // namespace lockstep::plugin
