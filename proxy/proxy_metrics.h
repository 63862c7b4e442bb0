#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "proxy/traffic_counters.h"

namespace lockstep::proxy {

// Exposes the request-path counters to Prometheus at scrape time. The request path only touches
// its single-writer shards; this sums them on the admin thread, so no Prometheus object (and no
// Prometheus lock) is on the request path. Families: see docs/metrics.md.
class ProxyMetrics final : public prometheus::Collectable {
 public:
  explicit ProxyMetrics(const TrafficCounters& counters) : counters_(counters) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const TrafficCounters& counters_;
};

}  // namespace lockstep::proxy
