#include "proxy/proxy_metrics.h"

#include <limits>
#include <string>

namespace lockstep::proxy {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric::Label label(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

// Sums status blocks over shards: code -> count.
template <typename Shards>
std::vector<std::pair<uint32_t, uint64_t>> status_counts(uint32_t shards, const Shards& blocks_of) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (uint32_t cls = 0; cls < 5; ++cls) {
    std::array<uint64_t, 100> sum{};
    bool any = false;
    for (uint32_t s = 0; s < shards; ++s) {
      const StatusBlock* b = blocks_of(s)[cls].load(std::memory_order_acquire);
      if (b == nullptr) continue;
      any = true;
      for (size_t i = 0; i < 100; ++i) sum[i] += b->codes[i].load();
    }
    if (!any) continue;
    for (size_t i = 0; i < 100; ++i) {
      if (sum[i] != 0) out.emplace_back((cls + 1) * 100 + static_cast<uint32_t>(i), sum[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<MetricFamily> ProxyMetrics::Collect() const {
  auto requests = family("lockstep_proxy_requests_total",
                         "Requests answered, by route, backend and status code (route=\"unmatched\" "
                         "for requests that matched no route or were refused before routing).",
                         MetricType::Counter);
  auto routed = family("lockstep_proxy_routed_requests_total",
                       "Requests routed to a backend (the cumulative count reported to the "
                       "scaler), including held ones.",
                       MetricType::Counter);
  auto in_flight = family("lockstep_proxy_in_flight",
                          "Requests being proxied to a backend now.", MetricType::Gauge);
  auto held = family("lockstep_proxy_held_requests",
                     "Requests held for a backend without ready endpoints (cold start).",
                     MetricType::Gauge);
  auto upstream_errors = family("lockstep_proxy_upstream_errors_total",
                                "Failed upstream attempts, by reason.", MetricType::Counter);
  auto latency = family("lockstep_proxy_request_duration_seconds",
                        "Time from a request head read to its response written, per route.",
                        MetricType::Histogram);
  auto timeouts = family("lockstep_proxy_cold_start_timeouts_total",
                         "Held requests answered 504 after coldStartTimeout.", MetricType::Counter);
  auto queue_full = family("lockstep_proxy_queue_full_total",
                           "Requests answered 503 because maxPendingRequests were held.",
                           MetricType::Counter);
  auto connections = family("lockstep_proxy_upstream_connections",
                            "Upstream connections: idle in a pool, or active for a request.",
                            MetricType::Gauge);
  auto stale = family("lockstep_proxy_upstream_stale_connections_total",
                      "Pooled upstream connections found closed by the upstream before reuse "
                      "and discarded (the request used another connection).",
                      MetricType::Counter);
  auto clients = family("lockstep_proxy_client_connections", "Open client connections.",
                        MetricType::Gauge);
  auto rejects = family("lockstep_proxy_request_rejects_total",
                        "Requests refused before reaching a backend, by reason.",
                        MetricType::Counter);

  const uint32_t shards = counters_.shards();
  std::map<const RouteCounters*, int64_t> held_by_route;
  for (const SeriesCounters* s : counters_.all_series()) {
    const RouteCounters& r = s->route();
    for (const auto& [code, n] : status_counts(shards, [s](uint32_t i) -> const auto& {
           return s->shard(i).status;
         })) {
      add_counter(requests,
                  {label("namespace", r.ns()), label("route", r.name()),
                   label("backend", s->backend()), label("code", std::to_string(code))},
                  static_cast<double>(n));
    }
    add_counter(routed,
                {label("namespace", r.ns()), label("route", r.name()),
                 label("backend", s->backend()), label("role", std::string(role_name(s->role())))},
                static_cast<double>(s->requests()));
    add_gauge(in_flight,
              {label("namespace", r.ns()), label("route", r.name()), label("backend", s->backend())},
              static_cast<double>(s->in_flight()));
    held_by_route[&r] += s->held();
    for (size_t e = 0; e < static_cast<size_t>(UpstreamError::kCount); ++e) {
      uint64_t n = 0;
      for (uint32_t i = 0; i < shards; ++i) n += s->shard(i).upstream_errors[e].load();
      if (n == 0) continue;
      add_counter(upstream_errors,
                  {label("namespace", r.ns()), label("route", r.name()),
                   label("backend", s->backend()),
                   label("reason", std::string(upstream_error_name(static_cast<UpstreamError>(e))))},
                  static_cast<double>(n));
    }
  }
  for (const RouteCounters* r : counters_.all_routes()) {
    std::vector<ClientMetric::Label> rl{label("namespace", r->ns()), label("route", r->name())};
    add_gauge(held, rl, static_cast<double>(held_by_route[r]));
    uint64_t to = 0, qf = 0, count = 0, sum_ns = 0;
    std::array<uint64_t, kLatencyBounds.size() + 1> buckets{};
    for (uint32_t i = 0; i < shards; ++i) {
      const RouteShard& sh = r->shard(i);
      to += sh.cold_start_timeouts.load();
      qf += sh.queue_full.load();
      count += sh.latency_count.load();
      sum_ns += sh.latency_sum_ns.load();
      for (size_t b = 0; b < buckets.size(); ++b) buckets[b] += sh.latency_buckets[b].load();
    }
    add_counter(timeouts, rl, static_cast<double>(to));
    add_counter(queue_full, rl, static_cast<double>(qf));
    ClientMetric m;
    m.label = rl;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      cumulative += buckets[b];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < kLatencyBounds.size() ? kLatencyBounds[b]
                                                     : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(bucket);
    }
    // Buckets and count are read at slightly different moments: report the bucket total.
    (void)count;
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(sum_ns) * 1e-9;
    latency.metric.push_back(std::move(m));
  }

  int64_t idle = 0, active = 0, client = 0;
  uint64_t stale_sum = 0;
  std::array<uint64_t, static_cast<size_t>(RejectReason::kCount)> reject_sum{};
  for (uint32_t i = 0; i < shards; ++i) {
    const ProcessShard& p = counters_.process(i);
    idle += p.upstream_idle.load();
    active += p.upstream_active.load();
    client += p.client_connections.load();
    stale_sum += p.upstream_stale.load();
    for (size_t r = 0; r < reject_sum.size(); ++r) reject_sum[r] += p.rejects[r].load();
  }
  for (const auto& [code, n] : status_counts(shards, [this](uint32_t i) -> const auto& {
         return counters_.process(i).unmatched_status;
       })) {
    add_counter(requests,
                {label("namespace", ""), label("route", "unmatched"), label("backend", ""),
                 label("code", std::to_string(code))},
                static_cast<double>(n));
  }
  add_gauge(connections, {label("state", "idle")}, static_cast<double>(std::max<int64_t>(idle, 0)));
  add_gauge(connections, {label("state", "active")},
            static_cast<double>(std::max<int64_t>(active, 0)));
  add_gauge(clients, {}, static_cast<double>(std::max<int64_t>(client, 0)));
  add_counter(stale, {}, static_cast<double>(stale_sum));
  for (size_t r = 0; r < reject_sum.size(); ++r) {
    add_counter(rejects, {label("reason", std::string(reject_reason_name(static_cast<RejectReason>(r))))},
                static_cast<double>(reject_sum[r]));
  }

  std::vector<MetricFamily> out;
  for (auto* f : {&requests, &routed, &in_flight, &held, &upstream_errors, &latency, &timeouts,
                  &queue_full, &connections, &stale, &clients, &rejects}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace lockstep::proxy
