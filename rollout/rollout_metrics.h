#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <string_view>

#include "rollout/model/objects.h"

namespace lockstep::rollout {

// The rollout module's event metrics (registered in the scaler's registry). Per-route split
// series (lockstep_scaler_split_*) are computed at scrape time by RouteCollector.
// prometheus-cpp metrics are thread-safe.
class RolloutMetrics {
 public:
  explicit RolloutMetrics(prometheus::Registry& registry);

  void object_invalid(std::string_view kind);
  void watch_event(ObjectKind kind, std::string_view type);
  void table_built(double seconds, uint64_t version, size_t routes, bool changed);
  void set_synced(bool synced) { synced_.Set(synced ? 1 : 0); }
  void set_objects(ObjectKind kind, size_t n) { objects_[static_cast<size_t>(kind)]->Set(static_cast<double>(n)); }
  void set_subscribers(size_t n) { subscribers_.Set(static_cast<double>(n)); }
  void table_sent() { tables_sent_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& invalid_family_;
  prometheus::Family<prometheus::Counter>& watch_family_;
  prometheus::Counter& builds_;
  prometheus::Counter& changes_;
  prometheus::Histogram& build_seconds_;
  prometheus::Gauge& version_;
  prometheus::Gauge& routes_;
  prometheus::Gauge& synced_;
  prometheus::Gauge& subscribers_;
  prometheus::Counter& tables_sent_;
  std::array<prometheus::Gauge*, kObjectKinds> objects_{};
};

}  // namespace lockstep::rollout
