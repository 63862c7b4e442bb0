// The demo's model of the HPA and of Argo's replica split (demo/controller_math.h), checked on
// the numbers the references give, and the PromQL operand splitter of the Prometheus test.
#include <doctest/doctest.h>

#include "demo/controller_math.h"
#include "test/integration/demo/promql_operands.h"

namespace lockstep::demo {
namespace {

using namespace std::chrono_literals;

TEST_CASE("Argo: ceil(weight x replicas / maxWeight)") {
  CHECK(weight_to_replicas(6, 20, 100) == 2);   // 1.2 -> 2
  CHECK(weight_to_replicas(10, 20, 100) == 2);  // exact
  CHECK(weight_to_replicas(1, 1, 100) == 1);
  CHECK(weight_to_replicas(0, 50, 100) == 0);
  CHECK(weight_to_replicas(7, 0, 100) == 0);
  CHECK(weight_to_replicas(3, 333, 1000) == 1);  // 0.999 -> 1
}

TEST_CASE("Argo: stable and canary ReplicaSets with and without dynamicStableScale") {
  CanaryScaleInput in;
  in.replicas = 10;
  in.in_canary = false;
  CHECK(argo_canary_scale(in).stable == 10);
  CHECK(argo_canary_scale(in).canary == 0);

  in.in_canary = true;
  in.desired_weight = 20;
  // Without dynamicStableScale the stable side keeps 100% of spec.replicas.
  CHECK(argo_canary_scale(in).stable == 10);
  CHECK(argo_canary_scale(in).canary == 2);

  // With it, stable shrinks only once status.canary.weights moved.
  in.dynamic_stable_scale = true;
  CHECK(argo_canary_scale(in).stable == 10);  // status still 100% stable
  in.status_canary_weight = 20;
  in.status_stable_weight = 80;
  CHECK(argo_canary_scale(in).stable == 8);
  CHECK(argo_canary_scale(in).canary == 2);

  // Abort: desired weight 0, stable back to full; the canary keeps what traffic still needs.
  in.aborted = true;
  CHECK(argo_canary_scale(in).stable == 10);
  CHECK(argo_canary_scale(in).canary == 2);
  in.status_canary_weight = 0;
  in.status_stable_weight = 100;
  CHECK(argo_canary_scale(in).canary == 0);
}

TEST_CASE("HPA: AverageValue external metric with the 10% tolerance") {
  CHECK(hpa_metric_replicas(1500, 250, 6, 0.1) == 6);
  CHECK(hpa_metric_replicas(4000, 250, 6, 0.1) == 16);
  CHECK(hpa_metric_replicas(1600, 250, 6, 0.1) == 6);   // ratio 1.067: inside the tolerance
  CHECK(hpa_metric_replicas(1700, 250, 6, 0.1) == 7);   // ratio 1.133: ceil(6.8)
  CHECK(hpa_metric_replicas(1250, 250, 6, 0.1) == 5);   // ratio 0.83
  CHECK(hpa_metric_replicas(0.5, 250, 0, 0.1) == 1);    // no pods counted yet
  CHECK(hpa_metric_replicas(1500.001, 250, 1, 0.1) == 7);
}

TEST_CASE("HPA: scale-down stabilization keeps the highest recommendation of the window") {
  HpaSettings s;
  s.scale_down_stabilization = 5s;
  s.min_replicas = 1;
  s.max_replicas = 20;
  HpaStabilizer hpa(s);
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  CHECK(hpa.decide(t0, 16, 6) == 16);        // up at once
  CHECK(hpa.decide(t0 + 1s, 6, 16) == 16);   // down held by the window
  CHECK(hpa.decide(t0 + 4s, 6, 16) == 16);
  CHECK(hpa.decide(t0 + 6s, 6, 16) == 6);    // 16 left the window
  CHECK(hpa.decide(t0 + 7s, 40, 6) == 20);   // max
  CHECK(hpa.decide(t0 + 20s, 0, 6) == 1);    // min (KEDA's HPA never goes below 1)
}

TEST_CASE("PromQL: operands of an alert condition") {
  auto split = split_promql(R"(up{job="lockstep-scaler"} == 0)");
  CHECK(split.op == "==");
  REQUIRE(split.operands.size() == 1);
  CHECK(split.operands[0] == R"(up{job="lockstep-scaler"})");

  split = split_promql(R"(sum(up{job="lockstep-scaler"}) == 0 or absent(up{job="lockstep-scaler"}))");
  CHECK(split.op == "or");
  REQUIRE(split.operands.size() == 2);
  CHECK(split.operands[0] == R"(sum(up{job="lockstep-scaler"}) == 0)");
  CHECK(absent_argument(split.operands[1]) == R"(up{job="lockstep-scaler"})");

  split = split_promql("lockstep_scaler_proxies_connected\n  < on (namespace) group_left ()\ncount by (namespace) (up{job=\"lockstep-proxy\"} == 1)");
  CHECK(split.op == "<");
  REQUIRE(split.operands.size() == 2);
  CHECK(split.operands[0] == "lockstep_scaler_proxies_connected");
  CHECK(split.operands[1] == R"(count by (namespace) (up{job="lockstep-proxy"} == 1))");

  split = split_promql("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5");
  REQUIRE(split.operands.size() == 1);
  CHECK(split.operands[0] == "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))");

  split = split_promql(R"(count(x{a=~"b|c", d!="e>f"}) > bool 1)");
  CHECK(split.op == ">");
  REQUIRE(split.operands.size() == 1);
  CHECK(split.operands[0] == R"(count(x{a=~"b|c", d!="e>f"}))");

  split = split_promql("sum by (namespace) (rate(x[1m]))");
  CHECK(split.op.empty());
  CHECK(split.operands.empty());
  CHECK(absent_argument("absent_over_time(up[5m])") == "up");
  CHECK(absent_argument("up").empty());
}

}  // namespace
}  // namespace lockstep::demo
