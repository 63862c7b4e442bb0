#include "rollout/rollout_aware_computation.h"

#include <algorithm>

#include "rollout/replica_split.h"

namespace lockstep::rollout {

bool RolloutAwareComputation::wants_rollout_aware(const scaler::TriggerSpec& spec) {
  auto it = spec.extra.find(kKey);
  return it != spec.extra.end() && it->second == "true";
}

scaler::MetricReading RolloutAwareComputation::read(const scaler::TriggerSpec& spec,
                                                    const aggregator::Route& route) const {
  scaler::MetricReading base = MetricComputation::read(spec, route);
  if (spec.metric != scaler::ScalingMetric::kRequestRate || !wants_rollout_aware(spec)) return base;
  const RouteAuthority* authority = authority_.load(std::memory_order_acquire);
  if (!authority) return base;
  const std::optional<RolloutContext> found = authority->rollout_context(route.key());
  if (!found || found->promoted) return base;
  const RolloutContext& ctx = *found;
  const int64_t now = clock().unix_ms();
  const auto window = static_cast<uint32_t>(spec.window.count());
  double stable = 0, canary = 0;
  for (size_t i = 0; i < route.series_count(); ++i) {
    const aggregator::RouteSeries& s = route.series(i);
    if (s.backend() == ctx.stable_service) {
      stable += route.request_rate(s, now, window);
    } else if (!ctx.canary_service.empty() && s.backend() == ctx.canary_service) {
      canary += route.request_rate(s, now, window);
    }
  }
  const RolloutAwareReplicas n = rollout_aware_replicas(ctx, stable, canary, spec.target_value);
  double value = static_cast<double>(n.replicas) * spec.target_value;
  // Keep the base's guarantees: a live request never reads as 0.
  if (base.value > 0 && value <= 0) value = std::max(base.value, kMinPositive);
  base.value = value;
  base.active = base.active || value > spec.activation_value;
  return base;
}

}  // namespace lockstep::rollout
