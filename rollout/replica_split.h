#pragma once

// How Argo Rollouts divides a canary's replicas (argoproj/argo-rollouts
// utils/replicaset/canary.go, CalculateReplicaCountsForTrafficRoutedCanary; reference §8), and
// the smallest replica count that serves both sides of a split. docs/rollout-aware-metrics.md
// derives and illustrates these.

#include <cstdint>

#include "rollout/route_resolver.h"

namespace lockstep::rollout {

struct ReplicaSplit {
  int64_t stable = 0;
  int64_t canary = 0;
};

// ceil(weight * replicas / max_weight), Argo's trafficWeightToReplicas.
int64_t weight_to_replicas(int64_t replicas, int64_t weight, int64_t max_weight);

// Stable and canary ReplicaSet sizes Argo sets when KEDA asks for `replicas` (spec.replicas) at
// the Rollout's current step. A promoted Rollout has no canary.
ReplicaSplit argo_replica_split(const RolloutContext& ctx, int64_t replicas);

// The smallest spec.replicas N for which Argo's split gives the stable side at least
// ceil(stable_rate / target) replicas and the canary side at least ceil(canary_rate / target).
// When no N can satisfy the canary (setCanaryScale fixes its replicas, or its replica weight is
// 0) only the stable side is required, and `canary_capped` is set. Bounded by `limit`.
struct RolloutAwareReplicas {
  int64_t replicas = 0;
  int64_t stable_needed = 0;
  int64_t canary_needed = 0;
  bool canary_capped = false;
};
RolloutAwareReplicas rollout_aware_replicas(const RolloutContext& ctx, double stable_rate,
                                            double canary_rate, double target,
                                            int64_t limit = int64_t{1} << 24);

}  // namespace lockstep::rollout
