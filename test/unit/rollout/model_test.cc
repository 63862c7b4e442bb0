// The object model from YAML and JSON, including the real manifests in examples/mangopress.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "rollout/manifest_source.h"
#include "rollout/model/objects.h"
#include "rollout/yaml_json.h"

using namespace lockstep::rollout;
using nlohmann::json;

namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(LOCKSTEP_SOURCE_DIR) + "/" + rel);
  REQUIRE_MESSAGE(in, rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <class T>
const T& only(const ManifestContents& c) {
  const T* found = nullptr;
  for (const auto& o : c.objects) {
    if (std::holds_alternative<T>(o)) {
      REQUIRE(found == nullptr);
      found = &std::get<T>(o);
    }
  }
  REQUIRE(found != nullptr);
  return *found;
}

json yaml(const std::string& text) {
  std::vector<json> docs;
  std::string error;
  REQUIRE_MESSAGE(parse_yaml_documents(text, docs, error), error);
  REQUIRE(docs.size() == 1);
  return docs[0];
}

}  // namespace

TEST_CASE("the MangoPress manifests load as they are") {
  auto so_file = parse_manifest(read("examples/mangopress/scaledobject.yaml"), "default");
  REQUIRE(so_file.yaml_error.empty());
  CHECK(so_file.errors.empty());
  const auto& so = only<ScaledObject>(so_file);
  CHECK(so.meta.key().str() == "mangopress/recommender");
  CHECK(so.targets_rollout());
  CHECK(so.target.name == "recommender");
  CHECK(so.min_replicas == 2);
  CHECK(so.max_replicas == 200);
  REQUIRE(so.triggers.size() == 1);
  CHECK(so.triggers[0].type == "external-push");
  CHECK(so.triggers[0].metadata.at("targetValue") == "50");
  CHECK(so.triggers[0].metadata.at("rolloutAware") == "true");

  auto ro_file = parse_manifest(read("examples/mangopress/rollout.yaml"), "default");
  REQUIRE(ro_file.errors.empty());
  const auto& ro = only<Rollout>(ro_file);
  CHECK_FALSE(ro.replicas);
  CHECK(ro.replicas_or_default() == 1);
  REQUIRE(ro.canary);
  CHECK(ro.canary->stable_service == "recommender-stable");
  CHECK(ro.canary->canary_service == "recommender-canary");
  CHECK(ro.canary->dynamic_stable_scale);
  CHECK(ro.canary->traffic_routing);
  CHECK(ro.canary->max_traffic_weight == 100);
  CHECK(ro.canary->traffic_router_plugins == std::vector<std::string>{"lockstep/http"});
  REQUIRE(ro.canary->steps.size() == 6);
  CHECK(ro.canary->steps[0].set_weight == 20);
  CHECK_FALSE(ro.canary->steps[1].set_weight);

  auto svc_file = parse_manifest(read("examples/mangopress/services.yaml"), "default");
  REQUIRE(svc_file.objects.size() == 2);
  const auto& stable = std::get<Service>(svc_file.objects[0]);
  CHECK(stable.meta.name == "recommender-stable");
  REQUIRE(stable.ports.size() == 1);
  CHECK(stable.ports[0].name == "http");
  CHECK(stable.ports[0].port == 80);
  CHECK(stable.ports[0].target_port_name == "http");

  auto es_file = parse_manifest(read("examples/mangopress/standalone/endpointslices.yaml"), "default");
  REQUIRE(es_file.objects.size() == 3);
  const auto& es = std::get<EndpointSlice>(es_file.objects[0]);
  CHECK(es.service_name == "recommender-stable");
  CHECK(es.address_type == "IPv4");
  CHECK(es.ports[0].port == 18081);
  CHECK(es.endpoints[0].is_ready());

  // The files written by the other parts of the example are other kinds: ignored, no errors.
  for (const char* f : {"examples/mangopress/ingress.yaml", "examples/mangopress/rbac.yaml",
                        "examples/mangopress/argo-rollouts-config.yaml",
                        "examples/mangopress/namespace.yaml"}) {
    auto c = parse_manifest(read(f), "default");
    CHECK_MESSAGE(c.yaml_error.empty(), f);
    CHECK_MESSAGE(c.errors.empty(), f);
  }
}

TEST_CASE("the same objects parse from API-server JSON") {
  const json rollout = json::parse(R"({
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "77", "generation": 3,
                 "uid": "u-1", "labels": {"app": "web"}, "managedFields": [{"manager": "x"}]},
    "spec": {"replicas": 10, "strategy": {"canary": {
      "stableService": "web-stable", "canaryService": "web-canary", "dynamicStableScale": false,
      "minPodsPerReplicaSet": 2,
      "trafficRouting": {"maxTrafficWeight": 1000, "plugins": {"lockstep/http": {}}},
      "steps": [{"setWeight": 100}, {"setCanaryScale": {"replicas": 3}}, {"pause": {}},
                {"setCanaryScale": {"weight": 40, "matchTrafficWeight": false}}]}}},
    "status": {"HPAReplicas": 12, "stableRS": "aaa", "currentPodHash": "bbb", "currentStepIndex": 1,
               "abort": false,
               "canary": {"weights": {"canary": {"weight": 100, "serviceName": "web-canary",
                                                 "podTemplateHash": "bbb"},
                                      "stable": {"weight": 900, "serviceName": "web-stable"},
                                      "additional": [{"weight": 0, "serviceName": "exp"}],
                                      "verified": true}}}})");
  auto p = parse_object(rollout);
  REQUIRE_MESSAGE(p.object, (p.error ? p.error->message() : ""));
  const auto& ro = std::get<Rollout>(*p.object);
  CHECK(ro.meta.resource_version == "77");
  CHECK(ro.meta.generation == 3);
  CHECK(ro.replicas == 10);
  CHECK(ro.canary->max_traffic_weight == 1000);
  CHECK(ro.canary->min_pods_per_replica_set == 2);
  CHECK(ro.canary->steps[1].set_canary_scale->replicas == 3);
  CHECK(ro.canary->steps[3].set_canary_scale->weight == 40);
  CHECK(ro.status.hpa_replicas == 12);
  CHECK(ro.status.current_step_index == 1);
  REQUIRE(ro.status.weights);
  CHECK(ro.status.weights->canary.weight == 100);
  CHECK(ro.status.weights->stable.service_name == "web-stable");
  CHECK(ro.status.weights->additional.size() == 1);
  CHECK(ro.status.weights->verified == true);

  const json slice = json::parse(R"({
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "web-abc", "namespace": "shop",
                 "labels": {"kubernetes.io/service-name": "web-stable"}},
    "addressType": "IPv6",
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    "endpoints": [{"addresses": ["fd00::1"], "conditions": {"ready": false, "serving": true,
                                                             "terminating": true},
                   "targetRef": {"kind": "Pod", "name": "web-1"}},
                  {"addresses": ["fd00::2"]}]})");
  p = parse_object(slice);
  REQUIRE(p.object);
  const auto& es = std::get<EndpointSlice>(*p.object);
  CHECK(es.service_name == "web-stable");
  CHECK_FALSE(es.endpoints[0].is_ready());
  CHECK(es.endpoints[0].terminating == true);
  CHECK(es.endpoints[0].target_name == "web-1");
  CHECK(es.endpoints[1].is_ready());  // no conditions: unknown counts as ready
}

TEST_CASE("malformed objects name the object and the field") {
  auto msg = [](const std::string& text) {
    auto p = parse_object(yaml(text));
    REQUIRE(p.error);
    CHECK_FALSE(p.object);
    return p.error->message();
  };
  CHECK(msg(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: external
      metadata: {port: 80}
)") == "ScaledObject shop/web: spec.triggers[0].metadata.port: must be a string (quote numbers "
       "and booleans in YAML)");
  CHECK(msg(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: web, namespace: shop}
spec: {}
)") == "ScaledObject shop/web: spec.scaleTargetRef: required");
  CHECK(msg(R"(
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec: {replicas: "3"}
)") == "Rollout shop/web: spec.replicas: must be an integer");
  CHECK(msg(R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 70000}]}
)") == "Service shop/web: spec.ports[0].port: 70000 is not in 1..65535");
  CHECK(msg(R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop}
addressType: IPv4
endpoints: [{conditions: {ready: true}}]
)") == "EndpointSlice shop/web-1: endpoints[0].addresses: required");
  CHECK(msg(R"(
apiVersion: v1
kind: Service
metadata: {name: Web, namespace: shop}
spec: {}
)").find("metadata.name") != std::string::npos);
  CHECK(msg(R"(
apiVersion: keda.sh/v1beta9
kind: ScaledObject
metadata: {name: web, namespace: shop}
)") == "ScaledObject shop/web: apiVersion: \"keda.sh/v1beta9\" is not a version lockstep reads");
  // Without a default namespace, a namespace is required.
  auto p = parse_object(yaml("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {}\n"));
  REQUIRE(p.error);
  CHECK(p.error->field == "metadata.namespace");
  // Other kinds, and the same kind name in another API group, are ignored without error.
  CHECK(parse_object(yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")).ignored);
  CHECK(parse_object(yaml("apiVersion: example.com/v1\nkind: Service\nmetadata: {name: x}\n")).ignored);
}

TEST_CASE("YAML scalars are typed as kubectl types them") {
  const json j = yaml(R"(
int: 80
neg: -12
hex: 0x1F
octal: 0755
float: 1.5
exp: 1e3
yes_word: yes
on_word: On
no_word: no
quoted: "80"
single: 'true'
null_tilde: ~
empty:
str: hello
version: 1.2.3
tagged: !!str 42
big: 18446744073709551616
)");
  CHECK(j["int"] == 80);
  CHECK(j["neg"] == -12);
  CHECK(j["hex"] == 31);
  CHECK(j["octal"] == 493);
  CHECK(j["float"] == 1.5);
  CHECK(j["exp"] == 1000.0);
  CHECK(j["yes_word"] == true);
  CHECK(j["on_word"] == true);
  CHECK(j["no_word"] == false);
  CHECK(j["quoted"] == "80");
  CHECK(j["single"] == "true");
  CHECK(j["null_tilde"].is_null());
  CHECK(j["empty"].is_null());
  CHECK(j["str"] == "hello");
  CHECK(j["version"] == "1.2.3");
  CHECK(j["tagged"] == "42");
  CHECK(j["big"].is_number_float());
}

TEST_CASE("YAML limits: depth, alias bombs and syntax errors") {
  std::vector<json> docs;
  std::string error;
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  CHECK_FALSE(parse_yaml_documents(deep, docs, error));
  CHECK(error.find("nested deeper") != std::string::npos);

  const std::string bomb = R"(
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
)";
  CHECK_FALSE(parse_yaml_documents(bomb, docs, error));
  CHECK(error.find("alias") != std::string::npos);

  CHECK_FALSE(parse_yaml_documents("a: [1, 2\nb: 3\n", docs, error));
  CHECK(error.find("YAML: line") == 0);
}

TEST_CASE("manifests: List documents, ignored kinds, skipped objects and YAML errors") {
  auto c = parse_manifest(R"(
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: a}
    spec: {ports: [{port: 80}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: b, namespace: other}
    spec: {ports: [{port: "eighty"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
)",
                          "shop");
  REQUIRE(c.yaml_error.empty());
  REQUIRE(c.objects.size() == 1);
  CHECK(meta_of(c.objects[0]).key().str() == "shop/a");
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].message() == "Service other/b: spec.ports[0].port: must be an integer");
  REQUIRE(c.invalid_keys.size() == 1);
  CHECK(c.invalid_keys[0].second.str() == "other/b");
  CHECK(c.ignored == 1);

  // A program config next to the manifests is not a Kubernetes object: ignored, no error; a
  // document that looks like an object but lacks its kind is still an error.
  auto config = parse_manifest("keda:\n  listen: 127.0.0.1:9090\n---\nmetadata: {name: x}\n", "shop");
  CHECK(config.ignored == 1);
  REQUIRE(config.errors.size() == 1);
  CHECK(config.errors[0].field == "kind");

  auto broken = parse_manifest("kind: Service\n  metadata: [\n", "shop");
  CHECK_FALSE(broken.yaml_error.empty());
  CHECK(broken.objects.empty());
}

TEST_CASE("identity fields of the wrong JSON type are errors, never exceptions") {
  // No kind, and a numeric name: reported without the name.
  ParsedObject p;
  REQUIRE_NOTHROW(p = parse_object(json::parse(R"({"apiVersion":"v1","metadata":{"name":5}})")));
  REQUIRE(p.error);
  CHECK(p.error->field == "kind");
  CHECK(p.error->name.empty());
  // An unknown version with a namespace of the wrong type.
  REQUIRE_NOTHROW(p = parse_object(json::parse(
                      R"({"apiVersion":"keda.sh/v9","kind":"ScaledObject",
                          "metadata":{"name":"web","namespace":["shop"]}})"),
                                   "dflt"));
  REQUIRE(p.error);
  CHECK(p.error->field == "apiVersion");
  CHECK(p.error->name == "web");
  CHECK(p.error->ns == "dflt");
  // A manifest whose kind is not a string.
  ManifestContents c;
  REQUIRE_NOTHROW(c = parse_manifest("kind: 5\napiVersion: v1\nmetadata: {name: x}\n", "shop"));
  CHECK(c.yaml_error.empty());
  REQUIRE(c.errors.size() == 1);
  CHECK(c.errors[0].field == "kind");
  REQUIRE_NOTHROW(c = parse_manifest("kind: [List]\nitems: []\n", "shop"));
  CHECK(c.errors.size() == 1);
}

TEST_CASE("every manifest under examples/ loads as it is") {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(LOCKSTEP_SOURCE_DIR) / "examples";
  size_t files = 0, objects = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    std::vector<json> docs;
    std::string error;
    // Program configs (scaler.yaml, proxy.yaml) are not Kubernetes objects; they must still be
    // YAML, and are loaded by their programs' own tests.
    REQUIRE_MESSAGE(parse_yaml_documents(ss.str(), docs, error), entry.path().string(), ": ", error);
    bool kubernetes = false;
    for (const auto& d : docs) kubernetes |= d.is_object() && d.contains("apiVersion");
    if (!kubernetes) continue;
    ++files;
    const ManifestContents c = parse_manifest(ss.str(), "default");
    CHECK_MESSAGE(c.yaml_error.empty(), entry.path().string());
    for (const auto& e : c.errors) FAIL_CHECK(entry.path().string() << ": " << e.message());
    objects += c.objects.size();
  }
  CHECK(files >= 8);
  CHECK(objects >= 8);
}
