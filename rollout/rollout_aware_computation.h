#pragma once

#include <atomic>

#include "rollout/route_authority.h"
#include "scaler/metric_computation.h"

namespace lockstep::rollout {

// The rollout-aware requestRate mode (trigger metadata `rolloutAware: "true"`): instead of the
// plain sum, GetMetrics returns N x targetValue where N is the smallest replica count for which
// Argo's split of N gives both the stable and the canary side enough replicas for the traffic
// each actually receives (rollout_aware_replicas; docs/rollout-aware-metrics.md). Every other
// trigger, and a route that is not in a canary, reads as the base computation. Reads are
// lock-free except one short mutex to copy the route's context from the authority.
class RolloutAwareComputation final : public scaler::MetricComputation {
 public:
  explicit RolloutAwareComputation(const Clock& clock) : MetricComputation(clock) {}

  // Where the Rollouts' step state comes from; set once before serving (null: base behaviour).
  void attach(const RouteAuthority* authority) {
    authority_.store(authority, std::memory_order_release);
  }

  scaler::MetricReading read(const scaler::TriggerSpec& spec,
                             const aggregator::Route& route) const override;

  // The metadata key and its accepted values ("true" / "false").
  static constexpr const char* kKey = "rolloutAware";
  static bool wants_rollout_aware(const scaler::TriggerSpec& spec);

 private:
  std::atomic<const RouteAuthority*> authority_{nullptr};  // acquire/release: set once
};

}  // namespace lockstep::rollout
