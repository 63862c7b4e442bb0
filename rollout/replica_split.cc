#include "rollout/replica_split.h"

#include <algorithm>
#include <cmath>

namespace lockstep::rollout {
namespace {

// Argo's CheckMinPodsPerReplicaSet: a non-empty ReplicaSet has at least minPodsPerReplicaSet.
int64_t min_pods(const RolloutContext& ctx, int64_t count) {
  if (count == 0) return 0;
  return std::max<int64_t>(count, ctx.min_pods_per_replica_set);
}

// Replicas needed for `rate` requests/s at `target` per replica; a hair of slack so that
// 1000/50 is 20, not 21 after floating-point noise.
int64_t needed(double rate, double target) {
  if (rate <= 0 || target <= 0) return 0;
  return static_cast<int64_t>(std::ceil(rate / target - 1e-9));
}

}  // namespace

int64_t weight_to_replicas(int64_t replicas, int64_t weight, int64_t max_weight) {
  if (max_weight <= 0 || replicas <= 0 || weight <= 0) return 0;
  return (weight * replicas + max_weight - 1) / max_weight;
}

ReplicaSplit argo_replica_split(const RolloutContext& ctx, int64_t replicas) {
  ReplicaSplit out;
  if (ctx.promoted) {
    out.stable = replicas;
    return out;
  }
  // With a fixed canary size, Argo's desired weight for the stable side is 0 (canary.go).
  const int64_t weight = ctx.canary_fixed_replicas ? 0 : ctx.canary_scale_weight;
  out.canary = ctx.canary_fixed_replicas
                   ? *ctx.canary_fixed_replicas
                   : min_pods(ctx, weight_to_replicas(replicas, weight, ctx.max_weight));
  if (!ctx.dynamic_stable_scale) {
    out.stable = replicas;
    return out;
  }
  int64_t stable = weight_to_replicas(replicas, ctx.max_weight - weight, ctx.max_weight);
  stable = std::max(stable, weight_to_replicas(replicas, ctx.previous_stable_weight, ctx.max_weight));
  out.stable = min_pods(ctx, stable);
  // Aborting with dynamicStableScale: the canary keeps the replicas of the traffic it still has
  // (status.canary.weights.canary) until the traffic has moved back.
  if (ctx.aborted) {
    out.canary = std::max(out.canary, min_pods(ctx, weight_to_replicas(
                                                        replicas, ctx.previous_canary_weight,
                                                        ctx.max_weight)));
  }
  return out;
}

RolloutAwareReplicas rollout_aware_replicas(const RolloutContext& ctx, double stable_rate,
                                            double canary_rate, double target, int64_t limit) {
  RolloutAwareReplicas out;
  out.stable_needed = needed(stable_rate, target);
  out.canary_needed = needed(canary_rate, target);
  if (ctx.promoted) {
    out.replicas = needed(stable_rate + canary_rate, target);
    return out;
  }
  // Both sides grow monotonically with N, so the smallest N is found by bisection. If even the
  // limit cannot give the canary what it needs, only the stable side is required.
  const auto canary_ok = [&](int64_t n) {
    return argo_replica_split(ctx, n).canary >= out.canary_needed;
  };
  const auto stable_ok = [&](int64_t n) {
    return argo_replica_split(ctx, n).stable >= out.stable_needed;
  };
  if (!canary_ok(limit)) out.canary_capped = true;
  auto ok = [&](int64_t n) { return stable_ok(n) && (out.canary_capped || canary_ok(n)); };
  if (!ok(limit)) {
    out.replicas = limit;
    return out;
  }
  int64_t lo = 0, hi = limit;  // ok(hi) holds; find the first n in [lo, hi] with ok(n)
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (ok(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  out.replicas = lo;
  return out;
}

}  // namespace lockstep::rollout
