#pragma once

#include <functional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "aggregator/aggregator.h"
#include "scaler/activation_hub.h"
#include "scaler/metric_computation.h"
#include "scaler/scaler_metrics.h"
#include "scaler/trigger_cache.h"
#include "scaler/trigger_catalogue.h"

namespace lockstep::scaler {

// Exports the scaler's state at scrape time (per route and backend, per trigger, ingest counters)
// instead of keeping a prometheus object per series: the values already live in the aggregator,
// and routes come and go. Families here are not registered anywhere else, so every name has one
// source. Thread-safe (reads snapshots).
//
// The four per-backend families (requests_total, request_rate, concurrency, held_requests) have a
// series per route and backend: at 10k routes building prometheus-cpp objects for them would cost
// tens of MB per scrape, so append_route_families() writes them straight in the text format;
// Collect() returns the rest.
class ScalerCollector final : public prometheus::Collectable {
 public:
  struct Sources {
    aggregator::Aggregator& aggregator;
    TriggerCache& triggers;
    const TriggerCatalogue& catalogue;
    const MetricComputation& computation;
    const ActivationHub& hub;
    const ScalerMetrics& metrics;
    std::function<size_t()> ingest_streams;  // open ingest streams (may be empty)
  };
  explicit ScalerCollector(Sources sources) : s_(std::move(sources)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;
  // The per-backend families, in the Prometheus text exposition format.
  void append_route_families(std::string& out) const;

 private:
  Sources s_;
};

}  // namespace lockstep::scaler
