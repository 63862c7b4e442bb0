#include "proxy/settings.h"

#include "common/dns_name.h"
#include "common/duration.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace lockstep::proxy {
namespace {

using std::chrono::milliseconds;

// One configuration key: how to apply a textual value (YAML scalar or flag) to the settings.
// Lists come as several values. The apply function returns an error reason, or "" on success.
struct KeyDef {
  std::string_view name;
  std::string_view help;
  bool list = false;
  std::function<std::string(ProxySettings&, const std::vector<std::string>&)> apply;
};

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

// Byte sizes: "65536", "64Ki", "1Mi", "1Gi".
bool parse_size(std::string_view text, uint64_t& out) {
  uint64_t mul = 1;
  if (text.size() > 2 && text.substr(text.size() - 2) == "Ki") {
    mul = 1024;
  } else if (text.size() > 2 && text.substr(text.size() - 2) == "Mi") {
    mul = 1024 * 1024;
  } else if (text.size() > 2 && text.substr(text.size() - 2) == "Gi") {
    mul = 1024ull * 1024 * 1024;
  }
  if (mul != 1) text.remove_suffix(2);
  uint64_t v = 0;
  if (!parse_u64(text, v) || v > UINT64_MAX / mul) return false;
  out = v * mul;
  return true;
}

bool parse_bool(std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes") {
    out = true;
  } else if (text == "false" || text == "0" || text == "no") {
    out = false;
  } else {
    return false;
  }
  return true;
}

// host:port with a numeric port; host may be a name, IPv4 or [IPv6].
bool valid_host_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  uint64_t port = 0;
  if (!parse_u64(s.substr(colon + 1), port) || port > 65535) return false;
  std::string_view host = s.substr(0, colon);
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

std::string one(const std::vector<std::string>& v) { return v.empty() ? std::string() : v.back(); }

KeyDef duration_key(std::string_view name, std::string_view help, Duration ProxySettings::*field,
                    Duration min, Duration max) {
  return {name, help, false,
          [field, min, max](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
            Duration d{};
            std::string why;
            if (!lockstep::parse_duration(one(v), d, &why)) return why;
            if (d < min || d > max) return "out of range";
            s.*field = d;
            return "";
          }};
}

KeyDef timeout_key(std::string_view name, std::string_view help,
                   Duration ProxySettings::Timeouts::*field, Duration min) {
  return {name, help, false,
          [field, min](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
            Duration d{};
            std::string why;
            if (!lockstep::parse_duration(one(v), d, &why)) return why;
            if (d < min || d > std::chrono::hours(24)) return "out of range";
            s.timeouts.*field = d;
            return "";
          }};
}

template <typename T>
KeyDef count_key(std::string_view name, std::string_view help, T ProxySettings::Limits::*field,
                 uint64_t min, uint64_t max, bool size) {
  return {name, help, false,
          [field, min, max, size](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
            uint64_t n = 0;
            if (!(size ? parse_size(one(v), n) : parse_u64(one(v), n))) {
              return size ? "not a byte size (e.g. 65536, 64Ki, 1Mi)" : "not a non-negative integer";
            }
            if (n < min || n > max) {
              return "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]";
            }
            s.limits.*field = static_cast<T>(n);
            return "";
          }};
}

const std::vector<KeyDef>& key_defs() {
  static const std::vector<KeyDef> defs = [] {
    std::vector<KeyDef> d;
    d.push_back({"listen", "HTTP listen address host:port (default 0.0.0.0:8080)", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (!valid_host_port(one(v))) return "not host:port";
                   s.listen = one(v);
                   return "";
                 }});
    d.push_back({"adminListen", "admin (/metrics, /healthz, /readyz) address (default 0.0.0.0:9090)",
                 false, [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (!valid_host_port(one(v))) return "not host:port";
                   s.admin_listen = one(v);
                   return "";
                 }});
    d.push_back({"workers", "HTTP worker threads; 0 = one per core (default 0)", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   uint64_t n = 0;
                   if (!parse_u64(one(v), n) || n > 1024) return "not an integer in [0, 1024]";
                   s.workers = static_cast<uint32_t>(n);
                   return "";
                 }});
    d.push_back({"proxyId", "name in reports; default $POD_NAME, else the host name", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   const std::string id = one(v);
                   if (id.size() > 253) return "longer than 253 bytes";
                   for (char c : id) {
                     if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
                         c != ':' && c != '-') {
                       return "only [A-Za-z0-9._:-] allowed";
                     }
                   }
                   s.proxy_id = id;
                   return "";
                 }});
    d.push_back({"fleet", "\"namespace/name\" of this proxy fleet (its Deployment), for proxyFleet triggers",
                 false, [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   const std::string f = one(v);
                   if (f.empty()) {
                     s.fleet.clear();
                     return "";
                   }
                   const auto slash = f.find('/');
                   if (slash == std::string::npos) return "not namespace/name";
                   if (!is_dns1123_label(std::string_view(f).substr(0, slash))) {
                     return "namespace \"" + f.substr(0, slash) + "\" is not a DNS-1123 label";
                   }
                   if (!is_dns1123_subdomain(std::string_view(f).substr(slash + 1))) {
                     return "name \"" + f.substr(slash + 1) + "\" is not a DNS-1123 subdomain";
                   }
                   s.fleet = f;
                   return "";
                 }});
    d.push_back({"scalers", "scaler replicas host:port (list, or comma-separated as a flag)", true,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   s.scalers.clear();
                   for (const auto& item : v) {
                     if (item.empty()) continue;
                     if (!valid_host_port(item)) return "entry \"" + item + "\" is not host:port";
                     s.scalers.push_back(item);
                   }
                   return "";
                 }});
    d.push_back({"scalerDns", "DNS name:port whose A/AAAA records are the scaler replicas", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (!one(v).empty() && !valid_host_port(one(v))) return "not name:port";
                   s.scaler_dns = one(v);
                   return "";
                 }});
    auto tls_file = [](std::string_view name, std::string_view help,
                       std::string ProxySettings::ScalerTls::*field) {
      return KeyDef{name, help, false,
                    [field](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                      const std::string path = one(v);
                      if (!path.empty()) {
                        std::ifstream in(path);
                        if (!in) return "cannot read \"" + path + "\"";
                      }
                      s.scaler_tls.*field = path;
                      return "";
                    }};
    };
    d.push_back(tls_file("scalerTls.caFile", "PEM CA bundle: TLS to the scalers",
                         &ProxySettings::ScalerTls::ca_file));
    d.push_back(tls_file("scalerTls.certFile", "PEM client certificate (mutual TLS)",
                         &ProxySettings::ScalerTls::cert_file));
    d.push_back(tls_file("scalerTls.keyFile", "PEM client key (mutual TLS)",
                         &ProxySettings::ScalerTls::key_file));
    d.push_back({"scalerTls.serverName", "name in the scalers' certificate", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   s.scaler_tls.server_name = one(v);
                   return "";
                 }});
    d.push_back(duration_key("scalerResolveInterval", "re-resolution period of scalerDns (10s)",
                             &ProxySettings::scaler_resolve_interval, milliseconds(100),
                             std::chrono::hours(1)));
    d.push_back(duration_key("reportInterval", "periodic report period (250ms)",
                             &ProxySettings::report_interval, milliseconds(10),
                             std::chrono::minutes(1)));
    d.push_back(duration_key("historyGranularity", "history bucket width (1s)",
                             &ProxySettings::history_granularity, milliseconds(100),
                             std::chrono::minutes(1)));
    d.push_back(duration_key("historyLength", "history replayed on reconnect (2m)",
                             &ProxySettings::history_length, milliseconds(0), std::chrono::hours(1)));
    d.push_back(duration_key("reconnectBackoffInitial", "first reconnect delay (100ms)",
                             &ProxySettings::reconnect_backoff_initial, milliseconds(1),
                             std::chrono::minutes(1)));
    d.push_back(duration_key("reconnectBackoffMax", "reconnect delay ceiling (5s)",
                             &ProxySettings::reconnect_backoff_max, milliseconds(1),
                             std::chrono::minutes(10)));
    d.push_back(duration_key("reportAckTimeout", "unacknowledged report -> reconnect (10s)",
                             &ProxySettings::report_ack_timeout, milliseconds(100),
                             std::chrono::minutes(10)));
    d.push_back(duration_key("scalerStreamLifetime", "deadline of each scaler stream (30m)",
                             &ProxySettings::scaler_stream_lifetime, std::chrono::seconds(1),
                             std::chrono::hours(24)));
    d.push_back(timeout_key("timeouts.headerRead", "first request byte -> header complete (10s)",
                            &ProxySettings::Timeouts::header_read, milliseconds(1)));
    d.push_back(timeout_key("timeouts.idle", "client keep-alive idle (60s)",
                            &ProxySettings::Timeouts::idle, milliseconds(1)));
    d.push_back(timeout_key("timeouts.connect", "upstream connect per attempt (2s)",
                            &ProxySettings::Timeouts::connect, milliseconds(1)));
    d.push_back(timeout_key("timeouts.response", "request sent -> response header (60s)",
                            &ProxySettings::Timeouts::response, milliseconds(1)));
    d.push_back(timeout_key("timeouts.bodyIdle", "no body progress (60s)",
                            &ProxySettings::Timeouts::body_idle, milliseconds(1)));
    d.push_back(timeout_key("timeouts.upstreamIdle", "pooled upstream connection idle (30s)",
                            &ProxySettings::Timeouts::upstream_idle, milliseconds(1)));
    d.push_back(timeout_key("coldStartTimeout", "hold limit for a cold backend, then 504 (30s)",
                            &ProxySettings::Timeouts::cold_start, milliseconds(1)));
    d.push_back(timeout_key("timeouts.shutdownDelay", "SIGTERM: /readyz 503 while accepting (0s)",
                            &ProxySettings::Timeouts::shutdown_delay, milliseconds(0)));
    d.push_back(timeout_key("timeouts.drain", "SIGTERM: in-flight requests may finish (30s)",
                            &ProxySettings::Timeouts::drain, milliseconds(0)));
    d.push_back(count_key("limits.maxHeaderBytes", "request header limit, else 431 (32Ki)",
                          &ProxySettings::Limits::max_header_bytes, 1024, 1024 * 1024, true));
    d.push_back(count_key("limits.maxBodyBytes", "request body limit, else 413; 0 = none (0)",
                          &ProxySettings::Limits::max_body_bytes, 0, UINT64_MAX, true));
    d.push_back(count_key("maxPendingRequests", "held requests per route, else 503 (100)",
                          &ProxySettings::Limits::max_pending_requests, 0, 1'000'000, false));
    d.push_back(count_key("limits.maxIdlePerEndpoint", "pooled connections/endpoint/worker (64)",
                          &ProxySettings::Limits::max_idle_per_endpoint, 0, 100'000, false));
    d.push_back(count_key("limits.maxClientConnections", "open client connections; 0 = none (0)",
                          &ProxySettings::Limits::max_client_connections, 0, 10'000'000, false));
    d.push_back({"upstreamRetries", "other endpoints tried after a connect failure (2)", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   uint64_t n = 0;
                   if (!parse_u64(one(v), n) || n > 10) return "not an integer in [0, 10]";
                   s.upstream_retries = static_cast<uint32_t>(n);
                   return "";
                 }});
    d.push_back({"endpointPick", "leastOutstanding (P2C, default) or roundRobin", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (one(v) == "leastOutstanding") {
                     s.endpoint_pick = EndpointPick::kLeastOutstandingOfTwo;
                   } else if (one(v) == "roundRobin") {
                     s.endpoint_pick = EndpointPick::kRoundRobin;
                   } else {
                     return "must be leastOutstanding or roundRobin";
                   }
                   return "";
                 }});
    d.push_back({"trustForwardedHeaders", "keep client X-Forwarded-* (append to -For) (true)", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (!parse_bool(one(v), s.trust_forwarded_headers)) return "not true/false";
                   return "";
                 }});
    d.push_back(duration_key("retryAfter", "Retry-After of 503 when the hold queue is full (1s)",
                             &ProxySettings::retry_after, milliseconds(0), std::chrono::hours(1)));
    d.push_back(duration_key("timerResolution", "granularity of timeouts (100ms)",
                             &ProxySettings::timer_resolution, milliseconds(1),
                             std::chrono::seconds(10)));
    d.push_back({"logLevel", "debug, info, warn or error (info)", false,
                 [](ProxySettings& s, const std::vector<std::string>& v) -> std::string {
                   if (!parse_log_level(one(v), s.log_level)) return "not debug/info/warn/error";
                   return "";
                 }});
    return d;
  }();
  return defs;
}

const KeyDef* find_key(std::string_view name) {
  for (const auto& k : key_defs()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

// Flattens a YAML mapping into dotted keys. Sequences become lists; nested maps recurse.
void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::vector<std::string>>& out, std::vector<std::string>& errors) {
  for (const auto& kv : node) {
    const std::string key = prefix + kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (v.IsMap()) {
      flatten(v, key + ".", out, errors);
    } else if (v.IsSequence()) {
      std::vector<std::string> items;
      for (const auto& item : v) {
        if (!item.IsScalar()) {
          errors.push_back(key + ": list entries must be scalars");
          continue;
        }
        items.push_back(trim(item.Scalar()));
      }
      out[key] = std::move(items);
    } else if (v.IsScalar()) {
      out[key] = {trim(v.Scalar())};
    } else if (v.IsNull()) {
      out[key] = {};
    }
  }
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto comma = s.find(',');
    out.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

SettingsResult finish(std::map<std::string, std::vector<std::string>> values,
                      std::vector<std::string> errors) {
  SettingsResult result;
  ProxySettings s;
  for (const auto& [key, v] : values) {
    const KeyDef* def = find_key(key);
    if (def == nullptr) {
      errors.push_back(key + ": unknown key");
      continue;
    }
    if (!def->list && v.empty()) {
      errors.push_back(key + ": value missing");
      continue;
    }
    std::string err = def->apply(s, v);
    if (!err.empty()) errors.push_back(key + ": " + err);
  }
  if (errors.empty()) {
    if (s.scalers.empty() && s.scaler_dns.empty()) {
      errors.push_back("scalers: one of scalers or scalerDns is required");
    }
    if (!s.scalers.empty() && !s.scaler_dns.empty()) {
      errors.push_back("scalerDns: set either scalers or scalerDns, not both");
    }
    const auto& tls = s.scaler_tls;
    if (tls.ca_file.empty() &&
        (!tls.cert_file.empty() || !tls.key_file.empty() || !tls.server_name.empty())) {
      errors.push_back("scalerTls.caFile: required when any other scalerTls key is set");
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      errors.push_back("scalerTls.keyFile: certFile and keyFile go together");
    }
    if (s.reconnect_backoff_max < s.reconnect_backoff_initial) {
      errors.push_back("reconnectBackoffMax: smaller than reconnectBackoffInitial");
    }
    if (s.history_granularity % std::chrono::milliseconds(1) != Duration::zero() ||
        std::chrono::seconds(60) % s.history_granularity != Duration::zero()) {
      errors.push_back("historyGranularity: must divide one minute into whole milliseconds");
    }
  }
  result.errors = std::move(errors);
  if (result.errors.empty()) result.settings = std::move(s);
  return result;
}

}  // namespace

SettingsResult load_settings_from(std::string_view yaml_text, const std::vector<std::string>& flags) {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> errors;
  if (!yaml_text.empty()) {
    try {
      YAML::Node root = YAML::Load(std::string(yaml_text));
      if (root.IsMap()) {
        flatten(root, "", values, errors);
      } else if (!root.IsNull()) {
        errors.push_back("config: the top level must be a mapping");
      }
    } catch (const YAML::Exception& e) {
      errors.push_back(std::string("config: YAML error: ") + e.what());
    }
  }
  for (const auto& flag : flags) {
    if (flag.rfind("--", 0) != 0) {
      errors.push_back(flag + ": expected --key=value");
      continue;
    }
    auto eq = flag.find('=');
    if (eq == std::string::npos) {
      errors.push_back(flag.substr(2) + ": expected --key=value");
      continue;
    }
    std::string key = flag.substr(2, eq - 2);
    std::string value = flag.substr(eq + 1);
    if (key == "config") continue;
    const KeyDef* def = find_key(key);
    if (def != nullptr && def->list) {
      values[key] = value.empty() ? std::vector<std::string>{} : split_commas(value);
    } else {
      values[key] = {trim(value)};
    }
  }
  return finish(std::move(values), std::move(errors));
}

SettingsResult load_settings(const std::vector<std::string>& args) {
  std::string config_path;
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      SettingsResult r;
      r.help = true;
      return r;
    }
    if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
  }
  std::string text;
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) {
      SettingsResult r;
      r.errors.push_back("config: cannot read \"" + config_path + "\"");
      return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  return load_settings_from(text, args);
}

std::string settings_help() {
  std::string out =
      "usage: lockstep-proxy [--config=<file.yaml>] [--<key>=<value> ...]\n"
      "Every key may be set in the YAML file (dots are nesting) or as a flag; flags win.\n\n";
  for (const auto& k : key_defs()) {
    out += "  --";
    out += k.name;
    out += std::string(k.name.size() < 28 ? 28 - k.name.size() : 1, ' ');
    out += k.help;
    out += '\n';
  }
  return out;
}

}  // namespace lockstep::proxy
