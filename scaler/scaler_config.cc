#include "scaler/scaler_config.h"

#include <cstdlib>

#include "scaler/trigger_spec.h"

namespace lockstep::scaler {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

bool split_host_port(const std::string& address, std::string* host, uint16_t* port) {
  std::string h;
  std::string p;
  if (!address.empty() && address[0] == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return false;
    }
    h = address.substr(1, close - 1);
    p = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
  }
  const long v = std::strtol(p.c_str(), nullptr, 10);
  if (v > 65535) return false;
  if (host) *host = h;
  if (port) *port = static_cast<uint16_t>(v);
  return true;
}

namespace {

ConfigSchema::Check<std::string> address_check() {
  return [](const std::string& v) -> std::optional<std::string> {
    if (!split_host_port(v, nullptr, nullptr)) {
      return "\"" + v + "\" is not host:port (port 0 picks a free port)";
    }
    return std::nullopt;
  };
}

void bind_tls(ConfigSchema& s, const std::string& prefix, TlsFiles& tls, const std::string& what) {
  s.add_string(prefix + ".cert_file", &tls.cert_file,
               "PEM certificate chain for the " + what + " listener; with key_file, enables TLS. "
               "Re-read when the file changes.");
  s.add_string(prefix + ".key_file", &tls.key_file, "PEM private key for cert_file.");
  s.add_string(prefix + ".client_ca_file", &tls.client_ca_file,
               "PEM CA bundle; when set, clients must present a certificate it signed (mTLS).");
}

}  // namespace

void bind_config(ConfigSchema& s, ScalerConfig& c) {
  s.add_choice("log_level", &c.log_level, {"debug", "info", "warn", "error"},
               "Lowest level written to the JSON log on stderr.");

  s.add_string("keda.listen", &c.keda.listen,
               "gRPC address KEDA calls (externalscaler.ExternalScaler). May equal ingest.listen: "
               "both services then share one server and its memory quota, and under an ingest "
               "burst gRPC may refuse a new KEDA stream (RST_STREAM ENHANCE_YOUR_CALM; KEDA "
               "retries). Keep them apart in production.",
               address_check());
  bind_tls(s, "keda.tls", c.keda.tls, "KEDA");
  s.add_duration("keda.trigger_idle_ttl", &c.keda.trigger_idle_ttl, 1min, 24h,
                 "A trigger (distinct metadata map) KEDA has not asked about for this long is "
                 "forgotten; its route may then be evicted.");
  s.add_int("keda.max_triggers", &c.keda.max_triggers, 1, 10'000'000,
            "Most distinct trigger metadata maps cached; the least recently used go first.");

  s.add_string("ingest.listen", &c.ingest.listen,
               "gRPC address proxies push reports to (lockstep.v1.Ingest).", address_check());
  bind_tls(s, "ingest.tls", c.ingest.tls, "ingest");
  s.add_bytes("ingest.max_message_bytes", &c.ingest.max_message_bytes, 64 << 10, 1 << 30,
              "Largest gRPC message accepted (both services when they share a port); larger "
              "ones end the stream with RESOURCE_EXHAUSTED.");
  s.add_int("ingest.max_entries_per_report", &c.ingest.max_entries_per_report, 1, 10'000'000,
            "Most definitions + history + samples in one report; above it the stream ends with "
            "RESOURCE_EXHAUSTED (proxies split reports).");
  s.add_int("ingest.max_series_id", &c.ingest.max_series_id, 1, 1 << 26,
            "Largest series id a proxy may use on a stream (ids index a table: keep them dense).");
  s.add_int("ingest.max_gauge", &c.ingest.max_gauge, 1, (1 << 20) - 1,
            "Largest in_flight or held value one proxy may report for one series; above it the "
            "sample is rejected (VALUE_OUT_OF_RANGE).");
  s.add_int("ingest.max_requests_delta", &c.ingest.max_requests_delta, 1, int64_t{1} << 50,
            "Largest growth of one cumulative count between two reports; above it the sample is "
            "rejected (VALUE_OUT_OF_RANGE).");
  s.add_int("ingest.max_history_buckets", &c.ingest.max_history_buckets, 1, 86'400,
            "Most buckets in one SeriesHistory.");
  s.add_duration("ingest.max_clock_skew", &c.ingest.max_clock_skew, 0ms, 1min,
                 "How far past the scaler's clock a proxy's history may reach.");
  s.add_int("ingest.apply_threads", &c.ingest.apply_threads, 1, 64,
            "Threads that decode and apply large reports (the gRPC threads stay free for KEDA).");
  s.add_choice("ingest.apply_policy", &c.ingest.apply_policy, {"idle", "batch", "normal"},
               "Linux scheduling policy of the apply threads. idle (SCHED_IDLE): they run only on "
               "CPU time no other scaler thread wants and any waking thread preempts them, so bulk "
               "ingest takes no CPU time from KEDA's calls or an activation. batch (SCHED_BATCH) "
               "and normal (SCHED_OTHER) run them at apply_nice and give bulk ingest a share of a "
               "busy CPU. "
               "Reports the apply threads cannot take yet wait in queue_bytes, then in flow "
               "control; none is dropped.");
  s.add_int("ingest.apply_nice", &c.ingest.apply_nice, 0, 19,
            "Nice value of the apply threads under the batch and normal policies (within the "
            "scaler's own cgroup it orders only the scaler's own threads).");
  s.add_bytes("ingest.inline_apply_bytes", &c.ingest.inline_apply_bytes, 0, 16 << 20,
              "Reports up to this size (e.g. one carrying a held request) are applied at once on "
              "the gRPC thread instead of queueing behind bulk reports.");
  s.add_bytes("ingest.queue_bytes", &c.ingest.queue_bytes, 0, int64_t{1} << 30,
              "Reports read ahead and waiting to be applied, across all streams; beyond it a "
              "stream reads its next report only once the current one is applied.");

  s.add_string("admin.listen", &c.admin.listen,
               "HTTP address for /metrics, /healthz and /readyz (IP literal and port).",
               address_check());
  s.add_bytes("admin.max_request_bytes", &c.admin.max_request_bytes, 1 << 10, 16 << 20,
              "Largest HTTP request (headers + body) the admin server reads.");

  s.add_duration("grpc.max_connection_age", &c.grpc.max_connection_age, 0ms, 24h,
                 "Send GOAWAY to a connection after this long (0: never), so KEDA's and the "
                 "proxies' connections rebalance over scaler replicas.");
  s.add_duration("grpc.max_connection_age_grace", &c.grpc.max_connection_age_grace, 0ms, 24h,
                 "After GOAWAY, how long open streams may go on (0: until they end; a cut stream "
                 "ends with UNAVAILABLE and grows KEDA's retry delay).");
  s.add_int("grpc.max_concurrent_streams", &c.grpc.max_concurrent_streams, 1, 1 << 30,
            "HTTP/2 streams per connection (KEDA multiplexes every trigger's stream on one).");
  s.add_duration("grpc.min_ping_interval", &c.grpc.min_ping_interval, 1s, 1h,
                 "Shortest keepalive ping interval clients may use without being disconnected.");
  s.add_duration("grpc.shutdown_grace", &c.grpc.shutdown_grace, 0ms, 5min,
                 "On shutdown, after ending every stream with OK, how long calls may finish.");
  s.add_bytes("grpc.stream_window_bytes", &c.grpc.stream_window_bytes, 64 << 10, 64 << 20,
              "HTTP/2 receive window per stream (fixed: no BDP growth): how much a proxy may send "
              "ahead of what the scaler has read.");
  s.add_bytes("grpc.memory_quota_bytes", &c.grpc.memory_quota_bytes, 4 << 20, int64_t{16} << 30,
              "Memory gRPC may use for buffers across all connections (a ResourceQuota); beyond "
              "it, reads slow down and senders wait.");

  s.add_int("aggregator.max_routes", &c.aggregator.max_routes, 1, 10'000'000,
            "Most routes created from proxy reports (ROUTE_LIMIT beyond); triggers always fit.");
  s.add_int("aggregator.max_backends_per_route", &c.aggregator.max_backends_per_route, 1, 16,
            "Most backends (Services) per route.");
  s.add_duration("aggregator.default_window", &c.aggregator.default_window, 1s, 1h,
                 "Window of a route's ring before a trigger names one.");
  s.add_duration("aggregator.default_granularity", &c.aggregator.default_granularity, 100ms, 1h,
                 "Bucket width of a route's ring before a trigger names one.");
  s.add_duration("aggregator.route_idle_eviction", &c.aggregator.route_idle_eviction, 1min, 7 * 24h,
                 "A route with no trigger, no proxy stream naming it and no traffic for this long "
                 "(at least its window) is forgotten.");
  s.add_duration("aggregator.gauge_grace", &c.aggregator.gauge_grace, 0ms, 1h,
                 "A proxy whose streams have all ended stops counting in concurrency and held "
                 "after this.");
  s.add_duration("aggregator.proxy_state_ttl", &c.aggregator.proxy_state_ttl, 1min, 7 * 24h,
                 "A disconnected proxy's per-series state is forgotten after this (at least the "
                 "longest window); its counted requests stay.");
  s.add_duration("aggregator.maintenance_interval", &c.aggregator.maintenance_interval, 100ms,
                 1min,
                 "How often gauges expire, idle routes are evicted and StreamIsActive re-checks "
                 "active routes for deactivation.");
}

std::optional<ConfigError> validate_config(const ScalerConfig& c) {
  if (auto why = check_tls_files(c.keda.tls, "keda.tls")) {
    return ConfigError{"keda.tls", *why, ""};
  }
  if (auto why = check_tls_files(c.ingest.tls, "ingest.tls")) {
    return ConfigError{"ingest.tls", *why, ""};
  }
  if (c.keda.listen == c.ingest.listen &&
      (c.keda.tls.cert_file != c.ingest.tls.cert_file ||
       c.keda.tls.key_file != c.ingest.tls.key_file ||
       c.keda.tls.client_ca_file != c.ingest.tls.client_ca_file)) {
    return ConfigError{"ingest.tls",
                       "keda.listen and ingest.listen are the same address, so they share one "
                       "server and need the same TLS settings",
                       ""};
  }
  std::string host;
  if (split_host_port(c.admin.listen, &host, nullptr) && host.find_first_not_of("0123456789.:") != std::string::npos) {
    return ConfigError{"admin.listen", "\"" + c.admin.listen + "\" must use an IP literal", ""};
  }
  const auto& a = c.aggregator;
  if (a.default_window % a.default_granularity != std::chrono::milliseconds(0)) {
    return ConfigError{"aggregator.default_window",
                       "must be a multiple of aggregator.default_granularity", ""};
  }
  if (static_cast<size_t>(a.default_window / a.default_granularity) > kMaxBucketsPerWindow) {
    return ConfigError{"aggregator.default_window",
                       "holds more than " + std::to_string(kMaxBucketsPerWindow) + " buckets", ""};
  }
  return std::nullopt;
}

}  // namespace lockstep::scaler
