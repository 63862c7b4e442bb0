#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/grpc_tls.h"

namespace lockstep::scaler {

// Everything lockstep-scaler can be told, with its defaults. Bound to YAML keys and flags by
// bind_config(); documented in docs/configuration.md (generated from the same table).
struct ScalerConfig {
  std::string log_level = "info";

  struct Keda {
    std::string listen = "0.0.0.0:9090";
    TlsFiles tls;
    std::chrono::milliseconds trigger_idle_ttl{std::chrono::hours(1)};
    int64_t max_triggers = 100'000;
  } keda;

  struct Ingest {
    std::string listen = "0.0.0.0:9091";
    TlsFiles tls;
    int64_t max_message_bytes = 16 << 20;
    int64_t max_entries_per_report = 100'000;
    int64_t max_series_id = 1 << 20;
    int64_t max_gauge = 1'000'000;
    int64_t max_requests_delta = 1'000'000'000;
    int64_t max_history_buckets = 3600;
    std::chrono::milliseconds max_clock_skew{5000};
    int64_t apply_threads = 1;
    int64_t apply_nice = 19;
    std::string apply_policy = "idle";  // idle | batch | normal
    int64_t inline_apply_bytes = 8 << 10;
    int64_t queue_bytes = 4 << 20;
  } ingest;

  struct Admin {
    std::string listen = "0.0.0.0:9092";
    int64_t max_request_bytes = 64 << 10;
  } admin;

  struct Grpc {
    std::chrono::milliseconds max_connection_age{0};        // 0: never
    std::chrono::milliseconds max_connection_age_grace{0};  // 0: no limit
    int64_t max_concurrent_streams = 100'000;
    std::chrono::milliseconds min_ping_interval{10'000};
    std::chrono::milliseconds shutdown_grace{5'000};
    int64_t stream_window_bytes = 128 << 10;
    int64_t memory_quota_bytes = 32 << 20;
  } grpc;

  struct Aggregator {
    int64_t max_routes = 20'000;
    int64_t max_backends_per_route = 16;
    std::chrono::milliseconds default_window{60'000};
    std::chrono::milliseconds default_granularity{1'000};
    std::chrono::milliseconds route_idle_eviction{std::chrono::minutes(10)};
    std::chrono::milliseconds gauge_grace{10'000};
    std::chrono::milliseconds proxy_state_ttl{std::chrono::minutes(15)};
    std::chrono::milliseconds maintenance_interval{1'000};
  } aggregator;
};

void bind_config(ConfigSchema& schema, ScalerConfig& config);
// Checks that need several keys (or files): returns the error naming a key and the reason.
std::optional<ConfigError> validate_config(const ScalerConfig& config);

// "host:port" / "[v6]:port": true with the parts, else false.
bool split_host_port(const std::string& address, std::string* host, uint16_t* port);

}  // namespace lockstep::scaler
