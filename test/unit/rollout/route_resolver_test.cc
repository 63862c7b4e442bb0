// The resolver: objects in, route table out.
#include "rollout/route_resolver.h"

#include <doctest/doctest.h>

#include <google/protobuf/util/message_differencer.h>

#include "rollout/manifest_source.h"

using namespace lockstep;
using namespace lockstep::rollout;

namespace {

Logger quiet() {
  return Logger(LogLevel::kError, [](std::string_view) {});
}

struct World {
  ClusterState state{quiet()};
  SplitMemory memory;
  TriggerOwnership ownership{{"lockstep-scaler.lockstep-system"}};

  void load(const std::string& yaml) {
    auto c = parse_manifest(yaml, "shop");
    REQUIRE_MESSAGE(c.yaml_error.empty(), c.yaml_error);
    for (const auto& e : c.errors) FAIL(e.message());
    for (auto& o : c.objects) state.upsert(std::move(o));
  }
  void remove(ObjectKind kind, const std::string& name) { state.remove(kind, {"shop", name}); }
  Resolution resolve() {
    return state.read([&](const ClusterView& v) {
      std::vector<ObjectError> errors;
      auto specs = parse_lockstep_triggers(v, ownership, &errors);
      for (const auto& e : errors) MESSAGE(e.message());
      return resolve_routes(v, specs, memory);
    });
  }
};

const char* kRolloutWorld = R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web}
  triggers:
    - type: external-push
      metadata:
        scalerAddress: lockstep-scaler.lockstep-system.svc.cluster.local:9090
        hosts: Web.Example.com,*.web.example.com
        pathPrefixes: /api,/
        portName: http
        targetValue: "50"
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 10
  strategy:
    canary:
      stableService: web-stable
      canaryService: web-canary
      trafficRouting: {plugins: {lockstep/http: {}}}
      steps: [{setWeight: 20}, {pause: {}}, {setWeight: 50}]
---
apiVersion: v1
kind: Service
metadata: {name: web-stable}
spec: {ports: [{name: http, port: 80, targetPort: http}, {name: grpc, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec: {ports: [{name: http, port: 80, targetPort: http}, {name: grpc, port: 9000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-stable-a, labels: {kubernetes.io/service-name: web-stable}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: grpc, port: 9090}]
endpoints:
  - addresses: [10.0.0.2]
    conditions: {ready: true}
  - addresses: [10.0.0.1]
  - addresses: [10.0.0.3]
    conditions: {ready: false, terminating: true}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-canary-a, labels: {kubernetes.io/service-name: web-canary}}
addressType: IPv4
ports: [{name: http, port: 8081}]
endpoints:
  - addresses: [10.0.1.1]
    conditions: {ready: true}
)";

const v1::Route& only_route(const Resolution& r) {
  REQUIRE(r.table.routes_size() == 1);
  return r.table.routes(0);
}

std::string endpoints_of(const v1::Backend& b) {
  std::string out;
  for (const auto& e : b.endpoints()) out += (out.empty() ? "" : ",") + e.ip() + ":" + std::to_string(e.port());
  return out;
}

void set_annotation(World& w, const std::string& text) {
  auto so = w.state.read([](const ClusterView& v) { return v.scaled_objects.at({"shop", "web"}); });
  if (text.empty()) {
    so.meta.annotations.erase(std::string(kSplitAnnotation));
  } else {
    so.meta.annotations[std::string(kSplitAnnotation)] = text;
  }
  w.state.upsert(std::move(so));
}

void set_status(World& w, const std::string& stable_rs, const std::string& current, int step,
                int canary_weight, bool abort = false) {
  auto ro = w.state.read([](const ClusterView& v) { return v.rollouts.at({"shop", "web"}); });
  ro.status.stable_rs = stable_rs;
  ro.status.current_pod_hash = current;
  ro.status.current_step_index = step;
  ro.status.abort = abort;
  Rollout::Status::Weights weights;
  weights.canary = {canary_weight, "web-canary", current};
  weights.stable = {100 - canary_weight, "web-stable", stable_rs};
  ro.status.weights = weights;
  w.state.upsert(std::move(ro));
}

}  // namespace

TEST_CASE("Rollout target: one route, stable and canary backends, ready endpoints by port name") {
  World w;
  w.load(kRolloutWorld);
  Resolution r = w.resolve();
  const v1::Route& route = only_route(r);
  CHECK(route.key() == "shop/web");
  REQUIRE(route.hosts_size() == 2);
  CHECK(route.hosts(0) == "*.web.example.com");
  CHECK(route.hosts(1) == "web.example.com");
  REQUIRE(route.path_prefixes_size() == 2);
  CHECK(route.path_prefixes(0) == "/");
  CHECK(route.path_prefixes(1) == "/api");
  CHECK(route.max_weight() == 100);
  REQUIRE(route.backends_size() == 2);
  CHECK(route.backends(0).service() == "web-stable");
  CHECK(route.backends(0).role() == v1::ROLE_STABLE);
  CHECK(route.backends(0).weight() == 100);
  // Ready (10.0.0.2) and unknown (10.0.0.1) endpoints, sorted; the terminating one is left out.
  CHECK(endpoints_of(route.backends(0)) == "10.0.0.1:8080,10.0.0.2:8080");
  CHECK(route.backends(1).service() == "web-canary");
  CHECK(route.backends(1).role() == v1::ROLE_CANARY);
  CHECK(route.backends(1).weight() == 0);
  CHECK(endpoints_of(route.backends(1)) == "10.0.1.1:8081");
  CHECK(route.split_generation() == 0);
  CHECK(r.routes.at("shop/web").split_source == "default");
  CHECK(r.routes.at("shop/web").problems.empty());
  REQUIRE(r.routes.at("shop/web").rollout);
  CHECK(r.table.version() != 0);
}

TEST_CASE("Deployment target: the trigger's service, its port number resolved to the slice's") {
  World w;
  w.load(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: api}
spec:
  scaleTargetRef: {name: api}
  triggers:
    - type: external
      metadata:
        scalerAddress: lockstep-scaler.lockstep-system:9090
        hosts: api.example.com
        service: api
        port: "80"
        targetValue: "10"
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{name: web, port: 80, targetPort: 8080}, {name: admin, port: 81}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: admin, port: 9000}, {name: web, port: 8080}]
endpoints: [{addresses: [10.1.0.1]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-fqdn, labels: {kubernetes.io/service-name: api}}
addressType: FQDN
ports: [{name: web, port: 8080}]
endpoints: [{addresses: [api.example.net]}]
)");
  Resolution r = w.resolve();
  const v1::Route& route = only_route(r);
  REQUIRE(route.backends_size() == 1);
  CHECK(route.backends(0).service() == "api");
  CHECK(route.backends(0).role() == v1::ROLE_STABLE);
  CHECK(route.backends(0).weight() == 100);
  CHECK(endpoints_of(route.backends(0)) == "10.1.0.1:8080");
  CHECK(route.path_prefixes(0) == "/");
  CHECK_FALSE(r.routes.at("shop/api").rollout);
}

TEST_CASE("a Rollout without canaryService routes everything to stable") {
  World w;
  w.load(kRolloutWorld);
  auto ro = w.state.read([](const ClusterView& v) { return v.rollouts.at({"shop", "web"}); });
  ro.canary->canary_service.clear();
  w.state.upsert(ro);
  const Resolution res = w.resolve();
  const v1::Route& route = only_route(res);
  REQUIRE(route.backends_size() == 1);
  CHECK(route.backends(0).service() == "web-stable");
  CHECK(route.backends(0).weight() == 100);
}

TEST_CASE("a missing Rollout or Service is reported, a Service without endpoints is cold") {
  World w;
  w.load(kRolloutWorld);
  w.remove(ObjectKind::kEndpointSlice, "web-canary-a");
  Resolution r = w.resolve();
  CHECK(only_route(r).backends(1).endpoints_size() == 0);  // cold
  CHECK(r.routes.at("shop/web").problems.empty());
  w.remove(ObjectKind::kService, "web-canary");
  r = w.resolve();
  CHECK(only_route(r).backends(1).endpoints_size() == 0);
  REQUIRE(r.routes.at("shop/web").problems.size() == 1);
  CHECK(r.routes.at("shop/web").problems[0] == "Service shop/web-canary not found");
  w.remove(ObjectKind::kRollout, "web");
  r = w.resolve();
  CHECK(r.table.routes_size() == 0);
  CHECK_FALSE(r.routes.at("shop/web").routed);
  CHECK(r.routes.at("shop/web").problems[0] == "Rollout shop/web not found");
}

TEST_CASE("a wrong port name leaves the backend cold and says why") {
  World w;
  w.load(kRolloutWorld);
  auto so = w.state.read([](const ClusterView& v) { return v.scaled_objects.at({"shop", "web"}); });
  so.triggers[0].metadata["portName"] = "metrics";
  w.state.upsert(so);
  Resolution r = w.resolve();
  CHECK(only_route(r).backends(0).endpoints_size() == 0);
  CHECK(r.routes.at("shop/web").problems[0] ==
        "Service shop/web-stable has no port named \"metrics\"");
}

TEST_CASE("annotation weights win over status weights, status is the fallback mid-canary") {
  World w;
  w.load(kRolloutWorld);
  set_status(w, "aaa", "bbb", 2, 50);  // mid-canary at 50
  Resolution r = w.resolve();
  CHECK(r.routes.at("shop/web").split_source == "rollout-status");
  CHECK(only_route(r).backends(0).weight() == 50);
  CHECK(only_route(r).backends(1).weight() == 50);

  set_annotation(w, R"({"generation":4,"rollout":"web","stableService":"web-stable",
    "canaryService":"web-canary","canaryWeight":20,
    "headerRoutes":[{"name":"beta","match":[{"headerName":"X-Beta","exact":"1"}]}]})");
  r = w.resolve();
  const v1::Route& route = only_route(r);
  CHECK(r.routes.at("shop/web").split_source == "annotation");
  CHECK(route.backends(0).weight() == 80);
  CHECK(route.backends(1).weight() == 20);
  CHECK(route.split_generation() == 4);
  REQUIRE(route.header_routes_size() == 1);
  CHECK(route.header_routes(0).service() == "web-canary");
  CHECK(route.header_routes(0).matches(0).header() == "x-beta");
  CHECK(route.header_routes(0).matches(0).kind() == v1::MATCH_KIND_EXACT);

  // Aborted or promoted without an annotation: everything to stable, whatever status says.
  set_annotation(w, "");
  set_status(w, "aaa", "bbb", 2, 50, /*abort=*/true);
  r = w.resolve();
  CHECK(r.routes.at("shop/web").split_source == "default");
  CHECK(only_route(r).backends(0).weight() == 100);
  set_status(w, "bbb", "bbb", 3, 100);
  r = w.resolve();
  CHECK(only_route(r).backends(0).weight() == 100);
}

TEST_CASE("additional destinations become backends with role other") {
  World w;
  w.load(kRolloutWorld);
  set_annotation(w, R"({"stableService":"web-stable","canaryService":"web-canary","canaryWeight":10,
    "additionalDestinations":[{"serviceName":"web-exp-b","weight":5},{"serviceName":"web-exp-a","weight":15}]})");
  const Resolution res = w.resolve();
  const v1::Route& route = only_route(res);
  REQUIRE(route.backends_size() == 4);
  CHECK(route.backends(0).weight() == 70);
  CHECK(route.backends(2).service() == "web-exp-a");
  CHECK(route.backends(2).role() == v1::ROLE_OTHER);
  CHECK(route.backends(2).weight() == 15);
  CHECK(route.backends(3).service() == "web-exp-b");
}

TEST_CASE("a bad annotation is reported once and the last good split kept") {
  World w;
  w.load(kRolloutWorld);
  const std::string good =
      R"({"generation":1,"stableService":"web-stable","canaryService":"web-canary","canaryWeight":30})";
  set_annotation(w, good);
  Resolution r = w.resolve();
  CHECK(only_route(r).backends(1).weight() == 30);
  CHECK(r.invalid_annotations.empty());

  set_annotation(w, R"({"generation":2,"stableService":"web-stable","canaryService":"web-canary","canaryWeight":130})");
  r = w.resolve();
  REQUIRE(r.invalid_annotations.size() == 1);
  CHECK(r.invalid_annotations[0].message() ==
        "ScaledObject shop/web: metadata.annotations[lockstep.dev/split]: canaryWeight: 130 is not "
        "in 0..maxWeight (100)");
  CHECK(only_route(r).backends(1).weight() == 30);
  CHECK(only_route(r).split_generation() == 1);
  CHECK(r.routes.at("shop/web").split_source == "last-good-annotation");
  r = w.resolve();  // the same bad text again: not reported twice
  CHECK(r.invalid_annotations.empty());
  CHECK(only_route(r).backends(1).weight() == 30);

  // An annotation for other services does not apply.
  set_annotation(w, R"({"stableService":"a","canaryService":"b","canaryWeight":30})");
  r = w.resolve();
  CHECK(only_route(r).backends(1).weight() == 0);
  CHECK(r.routes.at("shop/web").split_source == "default");
}

TEST_CASE("a bad annotation with nothing good before falls back like no annotation") {
  World w;
  w.load(kRolloutWorld);
  set_status(w, "aaa", "bbb", 0, 20);
  set_annotation(w, "{oops");
  Resolution r = w.resolve();
  CHECK(r.invalid_annotations.size() == 1);
  CHECK(r.routes.at("shop/web").split_source == "rollout-status");
  CHECK(only_route(r).backends(1).weight() == 20);
}

TEST_CASE("triggers of other scalers, and other trigger types, are ignored") {
  World w;
  w.load(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: other}
spec:
  scaleTargetRef: {name: other}
  triggers:
    - type: external
      metadata: {scalerAddress: "someone-else.tools:9090", hosts: other.example.com, service: other}
    - type: prometheus
      metadata: {serverAddress: "http://prom:9090", query: up, threshold: "1"}
)");
  Resolution r = w.resolve();
  CHECK(r.table.routes_size() == 0);
  CHECK(r.routes.empty());
}

TEST_CASE("a proxyFleet trigger (the proxies' own ScaledObject) routes nothing and is no problem") {
  World w;
  w.load(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: lockstep-proxy}
spec:
  scaleTargetRef: {name: lockstep-proxy}
  triggers:
    - type: external
      metadata:
        scalerAddress: lockstep-scaler.lockstep-system.svc.cluster.local:9090
        proxyFleet: shop/lockstep-proxy
        scalingMetric: concurrency
        targetValue: "200"
)");
  Resolution r = w.resolve();
  CHECK(r.table.routes_size() == 0);
  CHECK(r.routes.empty());
}

TEST_CASE("two routes claiming the same host and prefix: the first key keeps it") {
  World w;
  const char* so = R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: NAME}
spec:
  scaleTargetRef: {name: NAME}
  triggers:
    - type: external
      metadata: {scalerAddress: "lockstep-scaler.lockstep-system:9090", hosts: same.example.com,
                 service: NAME, targetValue: "1"}
)";
  for (const char* name : {"b", "a"}) {
    std::string text = so;
    for (size_t p; (p = text.find("NAME")) != std::string::npos;) text.replace(p, 4, name);
    w.load(text);
  }
  Resolution r = w.resolve();
  REQUIRE(r.table.routes_size() == 1);
  CHECK(r.table.routes(0).key() == "shop/a");
  CHECK_FALSE(r.routes.at("shop/b").routed);
  CHECK(r.routes.at("shop/b").problems.back().find("already routed by shop/a") != std::string::npos);
}

TEST_CASE("the table is deterministic: same objects, any order, same bytes and version") {
  World a, b;
  a.load(kRolloutWorld);
  // b receives the documents in reverse order and the slices' endpoints reversed.
  auto docs = parse_manifest(kRolloutWorld, "shop");
  for (auto it = docs.objects.rbegin(); it != docs.objects.rend(); ++it) {
    AnyObject o = *it;
    if (auto* es = std::get_if<EndpointSlice>(&o)) std::reverse(es->endpoints.begin(), es->endpoints.end());
    b.state.upsert(std::move(o));
  }
  Resolution ra = a.resolve(), rb = b.resolve();
  CHECK(ra.table.version() == rb.table.version());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(ra.table, rb.table));
  CHECK(route_table_version(ra.table) == ra.table.version());

  // Any change moves the version; the generation field is not part of it.
  rb.table.set_generation(99);
  CHECK(route_table_version(rb.table) == ra.table.version());
  b.remove(ObjectKind::kEndpointSlice, "web-canary-a");
  CHECK(b.resolve().table.version() != ra.table.version());

  Resolution empty;
  CHECK(route_table_version(empty.table) != 0);
}

TEST_CASE("Argo's step state: setWeight, setCanaryScale, abort, promotion") {
  Rollout ro;
  ro.meta.ns = "shop";
  ro.meta.name = "web";
  ro.replicas = 10;
  Rollout::Canary c;
  c.stable_service = "s";
  c.canary_service = "c";
  c.traffic_routing = true;
  c.steps.resize(5);
  c.steps[0].set_weight = 20;
  c.steps[1].set_canary_scale = Rollout::CanaryStep::CanaryScale{3, std::nullopt, false};
  c.steps[2].set_weight = 50;
  c.steps[3].set_canary_scale = Rollout::CanaryStep::CanaryScale{std::nullopt, 10, false};
  c.steps[4].set_canary_scale = Rollout::CanaryStep::CanaryScale{std::nullopt, std::nullopt, true};
  ro.canary = c;
  ro.status.stable_rs = "aaa";
  ro.status.current_pod_hash = "bbb";

  ro.status.current_step_index = 0;
  RolloutContext ctx = rollout_context(ro);
  CHECK_FALSE(ctx.promoted);
  CHECK(ctx.canary_scale_weight == 20);
  CHECK_FALSE(ctx.canary_fixed_replicas);

  ro.status.current_step_index = 1;
  ctx = rollout_context(ro);
  CHECK(ctx.canary_fixed_replicas == 3);

  ro.status.current_step_index = 3;
  ctx = rollout_context(ro);
  CHECK_FALSE(ctx.canary_fixed_replicas);
  CHECK(ctx.canary_scale_weight == 10);  // setCanaryScale.weight, traffic stays at 50

  ro.status.current_step_index = 4;  // matchTrafficWeight: back to the traffic weight
  ctx = rollout_context(ro);
  CHECK(ctx.canary_scale_weight == 50);

  ro.status.current_step_index = 5;  // past the last step
  ctx = rollout_context(ro);
  CHECK(ctx.canary_scale_weight == 100);

  ro.status.current_step_index = 2;
  ro.status.abort = true;
  ctx = rollout_context(ro);
  CHECK(ctx.aborted);
  CHECK(ctx.canary_scale_weight == 0);

  ro.status.abort = false;
  ro.status.current_pod_hash = "aaa";
  ctx = rollout_context(ro);
  CHECK(ctx.promoted);
}
