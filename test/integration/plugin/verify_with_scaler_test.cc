// The plugin's SetWeight and VerifyWeight against the real lockstep-scaler (rollout module, in
// process, watching the fake Kubernetes API), not a stand-in: the annotation the plugin writes is
// what the scaler routes, and the split status the scaler serves (rollout/route_status.cc) is
// what VerifyWeight reads, path and JSON. A proxy acknowledges route tables over the real
// ingest stream.
#include <doctest/doctest.h>

#include "rollout/plugin/traffic_router.h"
#include "test/integration/rollout/rollout_harness.h"
#include "test/support/keda/fake_proxy.h"

namespace lockstep::plugin {
namespace {

using namespace std::chrono_literals;
using lockstep::rollout::test::find_route;
using lockstep::rollout::test::routes_shop_web;
using lockstep::rollout::test::RolloutScaler;
using lockstep::rollout::test::RouteSubscriber;
using lockstep::rollout::test::TempDir;
using lockstep::testing::eventually;
using lockstep::testing::FakeApiServer;
using nlohmann::json;

json service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "http"}}}}}}};
}

json slice(const std::string& ns, const std::string& name, const std::string& service,
           const std::string& port_name, int port, const std::vector<std::string>& ips) {
  json endpoints = json::array();
  for (const auto& ip : ips) endpoints.push_back({{"addresses", {ip}}, {"conditions", {{"ready", true}}}});
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", port_name}, {"port", port}}}},
          {"endpoints", endpoints}};
}

// The app: a Rollout using the plugin, its Services and pods, and its ScaledObject with a
// lockstep trigger.
void create_shop(FakeApiServer& api) {
  api.upsert({{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "Rollout"},
              {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
              {"spec",
               {{"replicas", 4},
                {"strategy",
                 {{"canary",
                   {{"stableService", "web-stable"},
                    {"canaryService", "web-canary"},
                    {"trafficRouting", {{"plugins", {{"lockstep/http", json::object()}}}}},
                    {"steps", {{{"setWeight", 20}}, {{"pause", json::object()}}}}}}}}}}});
  for (const char* s : {"web-stable", "web-canary", "web-preview"}) api.upsert(service(s));
  api.upsert(slice("shop", "web-stable-1", "web-stable", "http", 8080, {"10.0.0.1", "10.0.0.2"}));
  api.upsert(slice("shop", "web-canary-1", "web-canary", "http", 8080, {"10.0.1.1"}));
  api.upsert(slice("shop", "web-preview-1", "web-preview", "http", 8080, {"10.0.2.1"}));
  api.upsert({{"apiVersion", "keda.sh/v1alpha1"},
              {"kind", "ScaledObject"},
              {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
              {"spec",
               {{"scaleTargetRef", {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Rollout"}, {"name", "web"}}},
                {"triggers",
                 {{{"type", "external-push"},
                   {"metadata",
                    {{"scalerAddress", "lockstep-scaler.lockstep-system.svc.cluster.local:9090"},
                     {"hosts", "web.shop.example"},
                     {"portName", "http"},
                     {"scalingMetric", "requestRate"},
                     {"targetValue", "50"}}}}}}}}});
}

RolloutRef web() {
  RolloutRef ro;
  ro.ns = "shop";
  ro.name = "web";
  ro.stable_service = "web-stable";
  ro.canary_service = "web-canary";
  ro.config.scaled_object = "web";
  return ro;
}

uint32_t weight_of(const lockstep::v1::RouteTable& t, const std::string& service) {
  const lockstep::v1::Route* r = find_route(t, "shop/web");
  if (r == nullptr) return 999;
  for (const auto& b : r->backends()) {
    if (b.service() == service) return b.weight();
  }
  return 999;
}

TEST_CASE("VerifyWeight reads the real scaler's split status: Verified exactly when its proxies apply the plugin's split") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, rollout::test::kube_settings(rollout::test::write_kubeconfig(dir, api)));
  // The scaler Service's EndpointSlice, as Kubernetes publishes it: this replica, by IP, with the
  // admin port under the chart's name.
  api.upsert(slice("lockstep-system", "lockstep-scaler-x1", "lockstep-scaler", "http-admin",
                   scaler.server->admin_port(), {"127.0.0.1"}));

  RouterOptions options;
  options.scaler_service = "lockstep-scaler";
  options.scaler_namespace = "lockstep-system";
  options.verify_timeout = 2s;
  TrafficRouter router(
      options,
      [&api](kube::KubeConfig& out, std::string&) {
        out = api.client_config();
        return true;
      },
      Logger(LogLevel::kError));

  RouteSubscriber routes(scaler.ingest_channel(), "proxy-a");
  REQUIRE(routes.wait(routes_shop_web));
  // Synced, but no proxy yet: nothing can be claimed.
  CHECK(router.verify_weight(web(), 0, {}) == Verification::kNotVerified);

  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-a", 1);
  REQUIRE(proxy.connect());
  proxy.count(proxy.define("shop/web", "web-stable"), 1);
  // The proxy applies the newest table it has; it says so in its next report.
  auto acknowledge = [&] { REQUIRE(proxy.wait_ack(proxy.flush(false, routes.latest().version()), 5s)); };
  acknowledge();
  CHECK(router.verify_weight(web(), 0, {}) == Verification::kVerified);
  CHECK(router.verify_weight(web(), 20, {}) == Verification::kNotVerified);

  // SetWeight(20): the scaler routes what the plugin wrote; verified once the proxy applies it.
  REQUIRE(router.set_weight(web(), 20, {}) == "");
  REQUIRE(routes.wait([](const lockstep::v1::RouteTable& t) { return weight_of(t, "web-canary") == 20; }));
  CHECK(router.verify_weight(web(), 20, {}) == Verification::kNotVerified);  // older split applied
  acknowledge();
  CHECK(router.verify_weight(web(), 20, {}) == Verification::kVerified);
  CHECK(router.verify_weight(web(), 30, {}) == Verification::kNotVerified);

  // Additional destinations (an experiment's Service).
  const std::vector<WeightDestination> preview = {{"web-preview", "5d8f", 10}};
  REQUIRE(router.set_weight(web(), 30, preview) == "");
  REQUIRE(routes.wait([](const lockstep::v1::RouteTable& t) {
    return weight_of(t, "web-canary") == 30 && weight_of(t, "web-preview") == 10;
  }));
  acknowledge();
  CHECK(router.verify_weight(web(), 30, preview) == Verification::kVerified);
  CHECK(router.verify_weight(web(), 30, {}) == Verification::kNotVerified);

  // A second proxy that has applied nothing yet holds verification back.
  keda::FakeProxy late(scaler.ingest_channel(), "proxy-b", 1);
  REQUIRE(late.connect());
  late.count(late.define("shop/web", "web-stable"), 1);
  REQUIRE(late.wait_ack(late.flush(false, 0), 5s));
  CHECK(router.verify_weight(web(), 30, preview) == Verification::kNotVerified);
  REQUIRE(late.wait_ack(late.flush(false, routes.latest().version()), 5s));
  CHECK(router.verify_weight(web(), 30, preview) == Verification::kVerified);

  // Weight 0 removes the annotation: verified when the scaler routes everything to stable again.
  REQUIRE(router.set_weight(web(), 0, {}) == "");
  REQUIRE(routes.wait([](const lockstep::v1::RouteTable& t) {
    return weight_of(t, "web-canary") == 0 && weight_of(t, "web-preview") != 10;
  }));
  acknowledge();
  REQUIRE(late.wait_ack(late.flush(false, routes.latest().version()), 5s));
  CHECK(router.verify_weight(web(), 0, {}) == Verification::kVerified);

  // A ScaledObject the scaler does not route (wrong scaledObjectName): its 404 is NotVerified.
  RolloutRef wrong = web();
  wrong.config.scaled_object = "web-typo";
  CHECK(router.verify_weight(wrong, 0, {}) == Verification::kNotVerified);
}

}  // namespace
}  // namespace lockstep::plugin
