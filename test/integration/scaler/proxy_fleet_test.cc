// The proxies' own ScaledObject (charts/lockstep/templates/proxy-scaledobject.yaml): a trigger
// with `proxyFleet` and no hosts, answered with the concurrency summed over that fleet's proxies,
// over KEDA's real call pattern and real ingest streams.
#include <doctest/doctest.h>

#include "scaler_harness.h"
#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;
using keda::FakeProxy;
using keda::KedaClient;
using keda::KedaOptions;

// What the chart renders for release "lockstep" in namespace "lockstep".
KedaOptions proxy_scaled_object(const std::string& address) {
  KedaOptions o;
  o.address = address;
  o.ns = "lockstep";
  o.name = "lockstep-proxy";
  o.triggers = {{{{"scalerAddress", "lockstep-scaler.lockstep.svc.cluster.local:9090"},
                  {"proxyFleet", "lockstep/lockstep-proxy"},
                  {"scalingMetric", "concurrency"},
                  {"targetValue", "200"}}}};
  return o;
}

TEST_CASE("the proxy fleet's ScaledObject scales on the fleet's own concurrency") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaClient keda(proxy_scaled_object(scaler.keda_address()));
  std::vector<std::vector<keda::SpecView>> specs;
  const auto reconciled = keda.reconcile(&specs);
  REQUIRE_MESSAGE(reconciled.ok(), reconciled.error_message());
  REQUIRE(specs.at(0).size() == 1);
  CHECK(specs[0][0].name == "lockstep-fleet-concurrency-lockstep-lockstep-proxy");
  CHECK(specs[0][0].target == 200);
  auto idle = keda.poll();
  REQUIRE_FALSE(idle.triggers.at(0).error.has_value());
  CHECK(idle.triggers[0].values.at(0) == 0);
  CHECK_FALSE(idle.active);

  // Three proxies of the fleet over two apps' routes, and one proxy of another fleet.
  std::vector<std::unique_ptr<FakeProxy>> fleet;
  for (int i = 0; i < 3; ++i) {
    fleet.push_back(std::make_unique<FakeProxy>(scaler.ingest_channel(),
                                                "lockstep-proxy-" + std::to_string(i), 1));
    fleet.back()->set_fleet("lockstep/lockstep-proxy");
    REQUIRE(fleet.back()->connect());
  }
  FakeProxy edge(scaler.ingest_channel(), "edge-proxy-0", 1);
  edge.set_fleet("edge/edge-proxy");
  REQUIRE(edge.connect());
  for (int i = 0; i < 3; ++i) {
    FakeProxy& p = *fleet[i];
    const uint32_t web = p.define("shop/web", "web-stable");
    const uint32_t blog = p.define("blog/site", "site");
    p.count(web, 100);
    p.gauges(web, 150, 0);
    p.gauges(blog, 40, i == 2 ? 10 : 0);  // proxy 2 holds 10 for a cold backend
    REQUIRE(p.wait_ack(p.flush(), 5s));
  }
  const uint32_t e = edge.define("shop/web", "web-stable");
  edge.gauges(e, 5000, 0);
  REQUIRE(edge.wait_ack(edge.flush(), 5s));

  auto busy = keda.poll();
  REQUIRE_FALSE(busy.triggers.at(0).error.has_value());
  CHECK(busy.triggers[0].values.at(0) == 3 * (150 + 40) + 10);  // 580: not the edge fleet's 5000
  CHECK(busy.triggers[0].desired_replicas == 3);                 // ceil(580 / 200)
  CHECK(busy.active);

  // /metrics and /proxies show the fleets.
  auto [code, body] = test::http_get(scaler.server->admin_port(), "/metrics");
  CHECK(code == 200);
  CHECK(body.find("lockstep_scaler_fleet_concurrency{fleet=\"lockstep/lockstep-proxy\"} 580") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_fleet_proxies{fleet=\"lockstep/lockstep-proxy\"} 3") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_fleet_held_requests{fleet=\"lockstep/lockstep-proxy\"} 10") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_fleet_concurrency{fleet=\"edge/edge-proxy\"} 5000") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_metric_value{namespace=\"lockstep\",route=\"lockstep-proxy\","
                  "metric=\"concurrency\"} 580") != std::string::npos);
  auto [pcode, proxies] = test::http_get(scaler.server->admin_port(), "/proxies");
  CHECK(pcode == 200);
  CHECK(proxies.find("\"fleet\":\"lockstep/lockstep-proxy\"") != std::string::npos);

  // A proxy leaves: after the gauge grace period its load no longer counts.
  fleet[0]->close();
  fleet[0].reset();
  // The scaler notes the disconnect when it has released the stream.
  REQUIRE(test::eventually([&] { return scaler.server->aggregator().proxies_connected() == 3; }));
  clock.advance(11s);
  scaler.server->maintenance_tick();
  auto after = keda.poll();
  CHECK(after.triggers.at(0).values.at(0) == 2 * (150 + 40) + 10);
  // The trigger made no route for the proxies' ScaledObject.
  CHECK_FALSE(scaler.server->aggregator().find_route("lockstep/lockstep-proxy"));
}

TEST_CASE("a bad proxyFleet trigger is INVALID_ARGUMENT naming the key, and a bad hello.fleet ends "
          "the proxy's stream") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaOptions o = proxy_scaled_object(scaler.keda_address());
  o.triggers[0].metadata["hosts"] = "shop.example.com";
  KedaClient keda(o);
  const auto s = keda.reconcile();
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message() ==
        "trigger metadata \"hosts\" = \"shop.example.com\": does not apply with proxyFleet (a "
        "proxyFleet trigger scales the proxies on their own load and routes nothing)");
  FakeProxy p(scaler.ingest_channel(), "lockstep-proxy-0", 1);
  p.set_fleet("lockstep-proxy");
  p.connect();
  auto end = p.wait_end(5s);
  REQUIRE(end.has_value());
  CHECK(end->error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(end->error_message().rfind("hello.fleet: \"lockstep-proxy\"", 0) == 0);
  // The scaler keeps serving.
  CHECK(KedaClient(proxy_scaled_object(scaler.keda_address())).reconcile().ok());
}

}  // namespace
}  // namespace lockstep::scaler
