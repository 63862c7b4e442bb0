#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace lockstep::proxy {

using Duration = std::chrono::nanoseconds;

enum class EndpointPick { kLeastOutstandingOfTwo, kRoundRobin };

// Every option of lockstep-proxy. Field comments name the YAML key (flags use the same name:
// `--timeouts.connect=2s`). docs/configuration.md ("lockstep-proxy") is the reference.
struct ProxySettings {
  // listen, adminListen: "host:port"; port 0 picks a free port (tests).
  std::string listen = "0.0.0.0:8080";
  std::string admin_listen = "0.0.0.0:9090";
  // workers: threads serving HTTP, each with its own event loop and SO_REUSEPORT listener.
  // 0 = one per core.
  uint32_t workers = 0;
  // proxyId: stable name in reports (the pod name); empty = $POD_NAME, else the host name.
  std::string proxy_id;
  // fleet: "namespace/name" of the proxies' Deployment, sent in Hello so that a proxyFleet
  // trigger scales this fleet on its own load; empty = counted toward every fleet.
  std::string fleet;

  // scalers: static list of scaler replicas ("host:port"); scalerDns: "name:port" whose A/AAAA
  // records name the replicas (re-resolved every scalerResolveInterval). One of them is required.
  std::vector<std::string> scalers;
  std::string scaler_dns;
  // scalerTls.*: TLS to the scaler replicas (PEM files). caFile turns it on; certFile + keyFile
  // add a client certificate (mutual TLS); serverName is the name the replicas' certificate
  // carries (needed with scalerDns, whose replicas are dialled by IP). Files are re-read when
  // they change (checked every scalerResolveInterval).
  struct ScalerTls {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string server_name;
    bool enabled() const { return !ca_file.empty(); }
  } scaler_tls;
  Duration scaler_resolve_interval = std::chrono::seconds(10);

  Duration report_interval = std::chrono::milliseconds(250);
  // Per-bucket request history kept for replay on (re)connect.
  Duration history_granularity = std::chrono::seconds(1);
  Duration history_length = std::chrono::minutes(2);
  Duration reconnect_backoff_initial = std::chrono::milliseconds(100);
  Duration reconnect_backoff_max = std::chrono::seconds(5);
  // A report not acknowledged within this time marks the replica unhealthy and reopens the stream.
  Duration report_ack_timeout = std::chrono::seconds(10);
  // Every stream to a scaler carries this deadline and is reopened when it passes.
  Duration scaler_stream_lifetime = std::chrono::minutes(30);

  struct Timeouts {
    Duration header_read = std::chrono::seconds(10);  // first byte of a request -> full header
    Duration idle = std::chrono::seconds(60);         // client keep-alive between requests
    Duration connect = std::chrono::seconds(2);       // upstream TCP connect, per attempt
    Duration response = std::chrono::seconds(60);     // request sent -> upstream response header
    Duration body_idle = std::chrono::seconds(60);    // no body progress in either direction
    Duration upstream_idle = std::chrono::seconds(30);  // pooled upstream connection unused
    Duration cold_start = std::chrono::seconds(30);   // coldStartTimeout: hold limit -> 504
    Duration shutdown_delay = std::chrono::seconds(0);  // SIGTERM: /readyz 503, still accepting
    Duration drain = std::chrono::seconds(30);         // then: finish in-flight requests
  } timeouts;

  struct Limits {
    uint32_t max_header_bytes = 32 * 1024;
    uint64_t max_body_bytes = 0;  // 0 = unlimited (bodies are streamed, never buffered)
    uint32_t max_pending_requests = 100;  // maxPendingRequests: held requests per route
    uint32_t max_idle_per_endpoint = 64;  // pooled upstream connections per endpoint per worker
    uint32_t max_client_connections = 0;  // per process; 0 = unlimited
  } limits;

  uint32_t upstream_retries = 2;  // extra endpoints tried after a connect failure
  EndpointPick endpoint_pick = EndpointPick::kLeastOutstandingOfTwo;
  // Keep X-Forwarded-For (append the client) and X-Forwarded-Proto/-Host from the client when
  // true (the proxy sits behind a trusted ingress); replace them when false.
  bool trust_forwarded_headers = true;
  // Retry-After on 503 when the hold queue of a route is full (whole seconds, rounded up).
  Duration retry_after = std::chrono::seconds(1);
  // Timer granularity for client/upstream timeouts (a coarse per-worker sweep).
  Duration timer_resolution = std::chrono::milliseconds(100);

  LogLevel log_level = LogLevel::kInfo;
};

// Outcome of loading settings: either settings or the errors, each naming the key and the reason.
struct SettingsResult {
  std::optional<ProxySettings> settings;
  std::vector<std::string> errors;
  bool help = false;  // --help was given
};

// Reads `--config=<file>` (YAML) if given, then overlays every other `--key=value` flag (flags
// win). `args` excludes argv[0]. Unknown keys and bad values are errors naming the key.
SettingsResult load_settings(const std::vector<std::string>& args);

// Same, from YAML text and flags (for tests).
SettingsResult load_settings_from(std::string_view yaml_text, const std::vector<std::string>& flags);

// The option reference printed by --help.
std::string settings_help();

}  // namespace lockstep::proxy
