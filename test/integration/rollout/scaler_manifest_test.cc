// Standalone mode: lockstep-scaler on manifest files. The route table follows edits; a broken
// file keeps its last good objects; the MangoPress example loads as it is.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "rollout/manifest_source.h"
#include "test/integration/rollout/rollout_harness.h"

using namespace lockstep;
using namespace lockstep::rollout;
using namespace lockstep::rollout::test;

namespace {

RolloutSettings manifest_settings(const std::string& paths) {
  RolloutSettings s;
  s.mode = "standalone";
  s.manifests.paths = paths;
  s.manifests.reload_interval = std::chrono::milliseconds(20);
  s.routes.scaler_hosts = "lockstep-scaler.lockstep-system";
  return s;
}

std::string app() {
  return R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: NAME, namespace: shop}
spec:
  scaleTargetRef: {name: NAME}
  triggers:
    - type: external
      metadata:
        scalerAddress: lockstep-scaler.lockstep-system:9090
        hosts: HOST
        service: NAME
        port: "80"
        targetValue: "10"
---
apiVersion: v1
kind: Service
metadata: {name: NAME, namespace: shop}
spec: {ports: [{port: 80, targetPort: PORT}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: NAME-1, namespace: shop, labels: {kubernetes.io/service-name: NAME}}
addressType: IPv4
ports: [{port: PORT}]
endpoints: [{addresses: [127.0.0.1]}]
)";
}

std::string fill(std::string text, const std::string& name, const std::string& host, int port) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t p; (p = text.find(from)) != std::string::npos;) text.replace(p, from.size(), to);
  };
  replace("NAME", name);
  replace("HOST", host);
  replace("PORT", std::to_string(port));
  return text;
}

}  // namespace

TEST_CASE("the MangoPress example serves its route in standalone mode") {
  SystemClock clock;
  RolloutScaler scaler(clock, manifest_settings(std::string(LOCKSTEP_SOURCE_DIR) +
                                                "/examples/mangopress"));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    return find_route(t, "mangopress/recommender") != nullptr;
  }));
  const v1::RouteTable t = sub.latest();
  const v1::Route& r = *find_route(t, "mangopress/recommender");
  CHECK(r.hosts(0) == "recommender.mangopress.example");
  REQUIRE(r.backends_size() == 2);
  CHECK(r.backends(0).service() == "recommender-stable");
  CHECK(r.backends(0).endpoints_size() == 2);
  CHECK(r.backends(0).endpoints(0).port() == 18081);
  CHECK(r.backends(1).service() == "recommender-canary");
  CHECK(r.backends(1).endpoints(0).port() == 18083);
  auto [status, body] = scaler.admin_get("/v1/routes/mangopress/recommender");
  CHECK(status == 200);
  CHECK(body["problems"].empty());
  // Nothing in the example folder is reported as malformed (standalone/scaler.yaml, the
  // scaler's own config, sits among the manifests and is not a Kubernetes object).
  CHECK(scaler.admin_raw("/metrics").second.find("lockstep_scaler_objects_invalid_total{") ==
        std::string::npos);
}

TEST_CASE("edits are picked up, a broken file keeps its last good objects") {
  TempDir dir;
  dir.write("apps/a.yaml", fill(app(), "alpha", "alpha.example", 9001));
  SystemClock clock;
  RolloutScaler scaler(clock, manifest_settings((dir.path / "apps").string()));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return find_route(t, "shop/alpha") != nullptr; }));

  // A second file appears.
  dir.write("apps/b.yaml", fill(app(), "beta", "beta.example", 9002));
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    return find_route(t, "shop/alpha") && find_route(t, "shop/beta");
  }));

  // An edit: alpha's endpoint moves to another port.
  dir.write("apps/a.yaml", fill(app(), "alpha", "alpha.example", 9011));
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/alpha");
    return r && r->backends(0).endpoints_size() == 1 && r->backends(0).endpoints(0).port() == 9011;
  }));
  const uint64_t good_version = sub.latest().version();

  // The file breaks: alpha keeps its last good objects, and the error is reported.
  dir.write("apps/a.yaml", "apiVersion: v1\nkind: Service\n  metadata: [oops\n");
  auto* source = dynamic_cast<ManifestSource*>(scaler.rollout->source());
  REQUIRE(source);
  REQUIRE(eventually([&] {
    auto st = source->file_status();
    auto it = st.find((dir.path / "apps/a.yaml").string());
    return it != st.end() && it->second.find("YAML: line") == 0;
  }));
  CHECK(sub.latest().version() == good_version);
  CHECK(find_route(sub.latest(), "shop/alpha") != nullptr);

  // A malformed object in a file that parses: skipped, counted, the rest loads.
  dir.write("apps/c.yaml", fill(app(), "gamma", "gamma.example", 9003) +
                               "---\napiVersion: v1\nkind: Service\nmetadata: {name: broken, "
                               "namespace: shop}\nspec: {ports: [{port: \"x\"}]}\n");
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return find_route(t, "shop/gamma") != nullptr; }));
  const std::string metrics = scaler.admin_raw("/metrics").second;
  CHECK(metrics.find("lockstep_scaler_objects_invalid_total{kind=\"Service\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("lockstep_scaler_split_weight{namespace=\"shop\",route=\"gamma\","
                     "backend=\"gamma\",role=\"stable\"} 100") != std::string::npos);
  CHECK(metrics.find("lockstep_scaler_watch_events_total{kind=\"ScaledObject\",type=\"RELOAD\"}") !=
        std::string::npos);

  // The file is fixed and then removed: its objects go.
  dir.write("apps/a.yaml", fill(app(), "alpha", "alpha.example", 9011));
  REQUIRE(eventually([&] {
    return source->file_status()[(dir.path / "apps/a.yaml").string()].empty();
  }));
  std::filesystem::remove(dir.path / "apps/a.yaml");
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return find_route(t, "shop/alpha") == nullptr; }));
  CHECK(find_route(sub.latest(), "shop/beta") != nullptr);
}

TEST_CASE("route streams end with OK when the scaler stops, bad subscriptions are refused") {
  TempDir dir;
  dir.write("a.yaml", fill(app(), "alpha", "alpha.example", 9001));
  SystemClock clock;
  auto scaler = std::make_unique<RolloutScaler>(clock, manifest_settings(dir.path.string()));
  std::vector<std::unique_ptr<RouteSubscriber>> subs;
  for (int i = 0; i < 20; ++i) {
    subs.push_back(std::make_unique<RouteSubscriber>(scaler->ingest_channel(),
                                                     "proxy-" + std::to_string(i)));
  }
  for (auto& s : subs) {
    REQUIRE(s->wait([](const v1::RouteTable& t) { return find_route(t, "shop/alpha") != nullptr; }));
  }
  CHECK(scaler->rollout->route_service().subscribers() == 20);

  RouteSubscriber bad(scaler->ingest_channel(), "no spaces allowed");
  REQUIRE(bad.wait_end());
  CHECK(bad.status().error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  scaler->server->stop();
  for (auto& s : subs) {
    REQUIRE(s->wait_end());
    CHECK(s->status().ok());
  }
}
