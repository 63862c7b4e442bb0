#include "demo/controller_math.h"

#include <algorithm>
#include <cmath>

namespace lockstep::demo {

int32_t weight_to_replicas(int32_t replicas, int32_t weight, int32_t max_weight) {
  if (max_weight <= 0 || replicas <= 0 || weight <= 0) return 0;
  const int64_t num = static_cast<int64_t>(weight) * replicas;
  return static_cast<int32_t>((num + max_weight - 1) / max_weight);
}

CanaryScale argo_canary_scale(const CanaryScaleInput& in) {
  CanaryScale out;
  if (!in.in_canary) {
    out.stable = in.replicas;
    return out;
  }
  const int32_t desired = in.aborted ? 0 : in.desired_weight;
  out.canary = weight_to_replicas(in.replicas, desired, in.max_weight);
  if (!in.dynamic_stable_scale) {
    out.stable = in.replicas;
    return out;
  }
  out.stable = std::max(weight_to_replicas(in.replicas, in.max_weight - desired, in.max_weight),
                        weight_to_replicas(in.replicas, in.status_stable_weight, in.max_weight));
  if (in.aborted) {
    out.canary = std::max(out.canary,
                          weight_to_replicas(in.replicas, in.status_canary_weight, in.max_weight));
  }
  return out;
}

int32_t hpa_metric_replicas(double usage, double target, int32_t status_replicas, double tolerance) {
  if (target <= 0) return status_replicas;
  if (status_replicas > 0) {
    const double ratio = usage / (target * status_replicas);
    if (std::abs(1.0 - ratio) <= tolerance) return status_replicas;
  }
  // The HPA works in milli-units; KEDA has already rounded the value to three decimals.
  return static_cast<int32_t>(std::ceil(usage / target - 1e-9));
}

int32_t HpaStabilizer::decide(std::chrono::steady_clock::time_point now, int32_t recommendation,
                              int32_t current_replicas) {
  history_.emplace_back(now, recommendation);
  const auto longest = std::max(settings_.scale_up_stabilization, settings_.scale_down_stabilization);
  while (!history_.empty() && history_.front().first < now - longest) history_.pop_front();
  int32_t up = recommendation;
  int32_t down = recommendation;
  for (const auto& [at, rec] : history_) {
    if (at >= now - settings_.scale_up_stabilization) up = std::min(up, rec);
    if (at >= now - settings_.scale_down_stabilization) down = std::max(down, rec);
  }
  int32_t result = current_replicas;
  if (result < up) result = up;
  if (result > down) result = down;
  return std::clamp(result, settings_.min_replicas, settings_.max_replicas);
}

}  // namespace lockstep::demo
