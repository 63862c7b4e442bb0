// Argo's replica split and the rollout-aware replica count; every row of the tables in
// docs/rollout-aware-metrics.md.
#include "rollout/replica_split.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace lockstep::rollout;

namespace {

RolloutContext at_step(int32_t weight, bool dss) {
  RolloutContext ctx;
  ctx.promoted = false;
  ctx.traffic_routing = true;
  ctx.canary_scale_weight = weight;
  ctx.dynamic_stable_scale = dss;
  ctx.previous_stable_weight = 100 - weight;
  return ctx;
}

struct Row {
  double total;
  double canary_share;
  bool dss;
  int64_t sum_n, sum_stable, sum_canary;
  int64_t aware_n, aware_stable, aware_canary;
};

}  // namespace

TEST_CASE("weight_to_replicas is Argo's ceil(w * r / max)") {
  CHECK(weight_to_replicas(10, 20, 100) == 2);
  CHECK(weight_to_replicas(11, 20, 100) == 3);
  CHECK(weight_to_replicas(99, 80, 100) == 80);
  CHECK(weight_to_replicas(5, 0, 100) == 0);
  CHECK(weight_to_replicas(0, 50, 100) == 0);
  CHECK(weight_to_replicas(3, 1, 1000) == 1);
}

TEST_CASE("Argo's split: with and without dynamicStableScale, fixed canary, min pods") {
  RolloutContext ctx = at_step(20, false);
  ReplicaSplit s = argo_replica_split(ctx, 10);
  CHECK(s.stable == 10);
  CHECK(s.canary == 2);
  ctx.dynamic_stable_scale = true;
  s = argo_replica_split(ctx, 10);
  CHECK(s.stable == 8);
  CHECK(s.canary == 2);
  // Going from 50% back to 20%: the stable side is kept at the previous (larger) stable weight
  // until traffic moves.
  ctx.previous_stable_weight = 50;
  CHECK(argo_replica_split(ctx, 10).stable == 8);
  ctx.previous_stable_weight = 90;
  CHECK(argo_replica_split(ctx, 10).stable == 9);
  ctx.canary_fixed_replicas = 3;
  s = argo_replica_split(ctx, 10);
  CHECK(s.canary == 3);
  CHECK(s.stable == 10);  // desired weight 0 for the stable side when replicas are fixed
  ctx.canary_fixed_replicas.reset();
  ctx.min_pods_per_replica_set = 4;
  CHECK(argo_replica_split(ctx, 10).canary == 4);
  ctx.canary_scale_weight = 0;
  CHECK(argo_replica_split(ctx, 10).canary == 0);  // an empty ReplicaSet stays empty
  RolloutContext promoted;
  CHECK(argo_replica_split(promoted, 7).stable == 7);
  CHECK(argo_replica_split(promoted, 7).canary == 0);
}

TEST_CASE("aborting with dynamicStableScale keeps the canary at the weight it still receives") {
  RolloutContext ctx = at_step(0, true);  // aborted: the current set weight is 0
  ctx.aborted = true;
  ctx.previous_canary_weight = 30;         // traffic has not moved back yet
  ctx.previous_stable_weight = 70;
  ReplicaSplit s = argo_replica_split(ctx, 10);
  CHECK(s.canary == 3);
  CHECK(s.stable == 10);
  ctx.previous_canary_weight = 0;  // once the weights are back, the canary goes
  CHECK(argo_replica_split(ctx, 10).canary == 0);
  // Without dynamicStableScale the abort leaves the canary at its set weight (0).
  ctx.dynamic_stable_scale = false;
  ctx.previous_canary_weight = 30;
  CHECK(argo_replica_split(ctx, 10).canary == 0);
}

TEST_CASE("the MangoPress tables of docs/rollout-aware-metrics.md") {
  const Row rows[] = {
      // total, canary share, dss: sum N, stable, canary | aware N, stable, canary
      {1500, 0.20, false, 30, 30, 6, 26, 26, 6},
      {1500, 0.20, true, 30, 24, 6, 29, 24, 6},
      {5000, 0.20, false, 100, 100, 20, 96, 96, 20},
      {5000, 0.20, true, 100, 80, 20, 99, 80, 20},
      {1500, 0.28, true, 30, 24, 6, 41, 33, 9},
      {5000, 0.28, true, 100, 80, 20, 136, 109, 28},
      {5000, 0.28, false, 100, 100, 20, 136, 136, 28},
  };
  for (const Row& r : rows) {
    CAPTURE(r.total);
    CAPTURE(r.canary_share);
    CAPTURE(r.dss);
    const RolloutContext ctx = at_step(20, r.dss);
    const double canary = r.total * r.canary_share;
    const double stable = r.total - canary;
    const int64_t sum_n = static_cast<int64_t>(std::ceil(r.total / 50 - 1e-9));
    CHECK(sum_n == r.sum_n);
    const ReplicaSplit sum = argo_replica_split(ctx, sum_n);
    CHECK(sum.stable == r.sum_stable);
    CHECK(sum.canary == r.sum_canary);
    const RolloutAwareReplicas aware = rollout_aware_replicas(ctx, stable, canary, 50);
    CHECK(aware.replicas == r.aware_n);
    CHECK_FALSE(aware.canary_capped);
    const ReplicaSplit a = argo_replica_split(ctx, aware.replicas);
    CHECK(a.stable == r.aware_stable);
    CHECK(a.canary == r.aware_canary);
    // Minimal: one replica fewer starves a side.
    const ReplicaSplit less = argo_replica_split(ctx, aware.replicas - 1);
    CHECK((less.stable < aware.stable_needed || less.canary < aware.canary_needed));
  }
}

TEST_CASE("a canary scale weight that matches the traffic brings N back to the sum") {
  RolloutContext ctx = at_step(20, true);
  ctx.canary_scale_weight = 28;  // setCanaryScale {weight: 28}; stable keeps its previous 80
  const RolloutAwareReplicas r = rollout_aware_replicas(ctx, 3600, 1400, 50);
  CHECK(r.replicas == 97);
  const ReplicaSplit s = argo_replica_split(ctx, r.replicas);
  CHECK(s.canary == 28);
  CHECK(s.stable == 78);  // 106 pods instead of 137
}

TEST_CASE("a fixed canary size: only the stable side is required, and that is flagged") {
  RolloutContext ctx = at_step(20, true);
  ctx.canary_fixed_replicas = 4;
  const RolloutAwareReplicas r = rollout_aware_replicas(ctx, 4000, 1000, 50);
  CHECK(r.canary_capped);
  CHECK(r.replicas == 80);
}

TEST_CASE("outside a canary the answer is the sum, no traffic needs no replicas") {
  RolloutContext promoted;
  CHECK(rollout_aware_replicas(promoted, 1000, 10, 50).replicas == 21);
  CHECK(rollout_aware_replicas(at_step(20, false), 0, 0, 50).replicas == 0);
  // Exactly divisible rates do not round up by floating-point noise.
  CHECK(rollout_aware_replicas(promoted, 0.3, 0, 0.1).replicas == 3);
}

TEST_CASE("another maxTrafficWeight") {
  RolloutContext ctx = at_step(200, false);
  ctx.max_weight = 1000;
  ctx.previous_stable_weight = 800;
  // 20% again, expressed out of 1000.
  CHECK(rollout_aware_replicas(ctx, 4000, 1000, 50).replicas == 96);
}
