#pragma once

// The arithmetic of the two controllers the demo stands in for, written from their documented
// behaviour (reference: proxy-metrics-algorithms.md §8, argo-rollouts-plugin.md §8) and kept
// apart from lockstep's own rollout module on purpose: the demo checks lockstep against an
// independent model of Kubernetes and Argo, not against itself.

#include <chrono>
#include <cstdint>
#include <deque>

namespace lockstep::demo {

// ---- Argo Rollouts: replicas of the stable and canary ReplicaSets with traffic routing ----

// ceil(weight * replicas / max_weight) (Argo's trafficWeightToReplicas).
int32_t weight_to_replicas(int32_t replicas, int32_t weight, int32_t max_weight);

struct CanaryScaleInput {
  int32_t replicas = 0;        // spec.replicas (what KEDA/the HPA set)
  int32_t max_weight = 100;
  bool in_canary = false;      // stableRS != currentPodHash
  bool aborted = false;
  bool dynamic_stable_scale = false;
  int32_t desired_weight = 0;  // the current step's setWeight (0 when aborted)
  int32_t status_canary_weight = 0;   // status.canary.weights (what traffic has now)
  int32_t status_stable_weight = 100;
};

struct CanaryScale {
  int32_t stable = 0;
  int32_t canary = 0;
};

// Argo's CalculateReplicaCountsForTrafficRoutedCanary, without setCanaryScale and
// minPodsPerReplicaSet (the demo's Rollout uses neither):
//   canary = ceil(desired * N / max); when aborting with dynamicStableScale, canary is kept at
//            least ceil(status canary weight * N / max) until traffic has left it;
//   stable = N without dynamicStableScale; with it,
//            max(ceil((max - desired) * N / max), ceil(status stable weight * N / max)),
//   so the stable side only shrinks after the traffic has moved.
CanaryScale argo_canary_scale(const CanaryScaleInput& in);

// ---- The HPA, for one external metric with an AverageValue target (what KEDA creates) ----

struct HpaSettings {
  double tolerance = 0.1;
  std::chrono::milliseconds scale_up_stabilization{0};
  std::chrono::milliseconds scale_down_stabilization{300'000};
  int32_t min_replicas = 1;  // KEDA gives the HPA max(1, minReplicaCount)
  int32_t max_replicas = 100;
};

// GetExternalPerPodMetricReplicas: usageRatio = usage / (target * statusReplicas); outside the
// tolerance the count becomes ceil(usage / target), else it stays statusReplicas.
int32_t hpa_metric_replicas(double usage, double target, int32_t status_replicas, double tolerance);

// The HPA's recommendation history and stabilization (stabilizeRecommendationWithBehaviors):
// the result is the current count pulled up to the lowest recommendation of the scale-up window
// and down to the highest of the scale-down window, then clamped to min/max. The rate policies
// (4 pods or 100% per 15 s) are not modelled. Not thread-safe.
class HpaStabilizer {
 public:
  explicit HpaStabilizer(HpaSettings settings) : settings_(settings) {}
  int32_t decide(std::chrono::steady_clock::time_point now, int32_t recommendation,
                 int32_t current_replicas);
  void reset() { history_.clear(); }
  const HpaSettings& settings() const { return settings_; }

 private:
  HpaSettings settings_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int32_t>> history_;
};

}  // namespace lockstep::demo
