// lockstep-scaler + the fake Kubernetes API server: the route table, the split status endpoint
// and KEDA's answers follow what happens to the objects, within bounded time; 410 relists, API
// server restarts and token rotation do not lose anything.
#include <doctest/doctest.h>

#include "rollout/kube/kube_client.h"
#include "rollout/kube_api_source.h"
#include "rollout/replica_split.h"
#include "test/integration/rollout/rollout_harness.h"
#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

using namespace lockstep;
using namespace lockstep::rollout;
using namespace lockstep::rollout::test;
using lockstep::testing::FakeApiServer;
using nlohmann::json;

namespace {

const std::map<std::string, std::string> kTrigger = {
    {"scalerAddress", "lockstep-scaler.lockstep-system.svc.cluster.local:9090"},
    {"hosts", "web.shop.example"},
    {"portName", "http"},
    {"scalingMetric", "requestRate"},
    {"targetValue", "50"},
    {"rolloutAware", "true"}};

json scaled_object() {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
          {"spec",
           {{"scaleTargetRef",
             {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Rollout"}, {"name", "web"}}},
            {"triggers", {{{"type", "external-push"}, {"metadata", kTrigger}}}}}}};
}

json rollout_object(bool dynamic_stable_scale = false) {
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Rollout"},
          {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
          {"spec",
           {{"replicas", 10},
            {"strategy",
             {{"canary",
               {{"stableService", "web-stable"},
                {"canaryService", "web-canary"},
                {"dynamicStableScale", dynamic_stable_scale},
                {"trafficRouting", {{"plugins", {{"lockstep/http", json::object()}}}}},
                {"steps", {{{"setWeight", 20}}, {{"pause", json::object()}}}}}}}}}}};
}

json service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "http"}}}}}}};
}

json slice(const std::string& name, const std::string& service, std::vector<std::string> ips,
           int port = 8080) {
  json endpoints = json::array();
  for (const auto& ip : ips) {
    endpoints.push_back({{"addresses", {ip}}, {"conditions", {{"ready", true}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name},
            {"namespace", "shop"},
            {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", port}}}},
          {"endpoints", endpoints}};
}

void create_shop(FakeApiServer& api) {
  api.upsert(rollout_object());
  api.upsert(service("web-stable"));
  api.upsert(service("web-canary"));
  api.upsert(slice("web-stable-1", "web-stable", {"10.0.0.1", "10.0.0.2"}));
  api.upsert(slice("web-canary-1", "web-canary", {"10.0.1.1"}));
  api.upsert(scaled_object());
}

uint32_t weight_of(const v1::RouteTable& t, const std::string& service) {
  const v1::Route* r = find_route(t, "shop/web");
  if (!r) return 999;
  const v1::Backend* b = find_backend(*r, service);
  return b ? b->weight() : 999;
}

std::unique_ptr<kube::KubeClient> plugin_client(const FakeApiServer& api) {
  std::string error;
  auto c = kube::KubeClient::create(api.client_config(), {}, error);
  REQUIRE_MESSAGE(c, error);
  return c;
}

// What the plugin does in SetWeight.
void set_split(kube::KubeClient& client, uint64_t generation, int canary_weight) {
  Split s;
  s.generation = generation;
  s.rollout = "web";
  s.stable_service = "web-stable";
  s.canary_service = "web-canary";
  s.canary_weight = canary_weight;
  REQUIRE(validate_split(s).empty());
  auto r = client.merge_patch(
      kube::kScaledObjects, "shop", "web",
      {{"metadata", {{"annotations", {{"lockstep.dev/split", serialize_split_annotation(s)}}}}}});
  REQUIRE_MESSAGE(r.ok(), r.error);
}

// Ten seconds of steady traffic to shop/web's stable and canary series (requests per second
// each), one report per second, then one more second so the last bucket is complete.
void report_ten_seconds(keda::FakeProxy& proxy, ManualClock& clock, uint32_t stable, uint32_t canary,
                        int stable_rps, int canary_rps) {
  for (int second = 1; second <= 10; ++second) {
    clock.advance(1s);
    proxy.count(stable, stable_rps * second);
    proxy.count(canary, canary_rps * second);
    REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  }
  clock.advance(1s);
}

// KEDA asking about shop/web with the lockstep trigger.
keda::KedaOptions web_keda(const std::string& address) {
  keda::KedaOptions ko;
  ko.address = address;
  ko.ns = "shop";
  ko.name = "web";
  ko.triggers = {{kTrigger}};
  return ko;
}

}  // namespace

TEST_CASE("the route table follows creates, updates and deletes of the objects") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber proxy(scaler.ingest_channel(), "proxy-a");

  REQUIRE(proxy.wait(routes_shop_web));
  v1::RouteTable t = proxy.latest();
  const v1::Route& route = *find_route(t, "shop/web");
  CHECK(route.hosts(0) == "web.shop.example");
  CHECK(weight_of(t, "web-stable") == 100);
  CHECK(find_backend(route, "web-stable")->endpoints_size() == 2);
  CHECK(find_backend(route, "web-canary")->endpoints(0).ip() == "10.0.1.1");
  CHECK(find_backend(route, "web-canary")->endpoints(0).port() == 8080);
  CHECK(t.version() != 0);
  // Roles reach the scaler's catalogue (for the per-backend metrics' role label).
  CHECK(scaler.server->catalogue().role("shop/web", "web-canary") == scaler::BackendRole::kCanary);

  // SetWeight as the plugin does it: a merge patch of the annotation.
  auto client = plugin_client(api);
  set_split(*client, 1, 20);
  REQUIRE(proxy.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 20; }));
  CHECK(weight_of(proxy.latest(), "web-stable") == 80);
  CHECK(find_route(proxy.latest(), "shop/web")->split_generation() == 1);

  // A new canary pod becomes ready.
  api.upsert(slice("web-canary-1", "web-canary", {"10.0.1.1", "10.0.1.2"}));
  REQUIRE(proxy.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-canary")->endpoints_size() == 2;
  }));

  // The canary's slice goes away: the backend is cold, the route stays.
  api.remove("discovery.k8s.io/v1", "EndpointSlice", "shop", "web-canary-1");
  REQUIRE(proxy.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-canary")->endpoints_size() == 0;
  }));

  // The ScaledObject is deleted: the route goes.
  api.remove("keda.sh/v1alpha1", "ScaledObject", "shop", "web");
  REQUIRE(proxy.wait([](const v1::RouteTable& t) { return find_route(t, "shop/web") == nullptr; }));
  auto [status, body] = scaler.admin_get("/v1/routes/shop/web");
  CHECK(status == 404);
  CHECK(body["known"] == false);

  // Versions only ever describe distinct tables; every replica computes the same for the same
  // objects (the same list as a second, independent scaler proves below).
  const auto tables = proxy.tables();
  for (size_t i = 1; i < tables.size(); ++i) CHECK(tables[i].version() != tables[i - 1].version());
}

TEST_CASE("two replicas serve identical tables for identical objects") {
  FakeApiServer api;
  create_shop(api);
  auto client = plugin_client(api);
  set_split(*client, 3, 40);
  TempDir dir;
  SystemClock clock;
  RolloutScaler a(clock, kube_settings(write_kubeconfig(dir, api)));
  RolloutScaler b(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber pa(a.ingest_channel(), "p1"), pb(b.ingest_channel(), "p2");
  REQUIRE(pa.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 40; }));
  REQUIRE(pb.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 40; }));
  CHECK(pa.latest().version() == pb.latest().version());
  CHECK(pa.latest().SerializeAsString().size() == pb.latest().SerializeAsString().size());
}

TEST_CASE("split status: applied only when every connected proxy acknowledged the split") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));

  auto client = plugin_client(api);
  set_split(*client, 1, 20);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 20; }));
  const uint64_t v20 = sub.latest().version();

  auto [status, body] = scaler.admin_get("/v1/routes/shop/web");
  REQUIRE(status == 200);
  CHECK(body["synced"] == true);
  CHECK(body["splitSource"] == "annotation");
  CHECK(body["desired"]["canaryWeight"] == 20);
  CHECK(body["splitGeneration"] == 1);
  CHECK(body["proxies"]["connected"] == 0);
  CHECK(body["applied"] == false);  // nobody routes yet

  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-a", 1);
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("shop/web", "web-stable");
  proxy.count(id, 1);
  REQUIRE(proxy.wait_ack(proxy.flush(false, /*route_table_version=*/0), 5s));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["proxies"]["connected"] == 1);
  CHECK(body["proxies"]["pending"][0]["reason"] == "no route table yet");
  CHECK(body["applied"] == false);

  REQUIRE(proxy.wait_ack(proxy.flush(false, v20), 5s));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["proxies"]["applied"] == 1);
  CHECK(body["applied"] == true);
  CHECK(body["tableVersion"] == hex_version(v20));

  // An endpoint-only change makes a new version with the same split: still applied.
  api.upsert(slice("web-stable-1", "web-stable", {"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  REQUIRE(sub.wait([&](const v1::RouteTable& t) { return t.version() != v20; }));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["applied"] == true);

  // A new split: not applied until the proxy acknowledges a table that has it.
  set_split(*client, 2, 50);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 50; }));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["applied"] == false);
  CHECK(body["proxies"]["pending"][0]["reason"] == "applies an older split");
  REQUIRE(proxy.wait_ack(proxy.flush(false, sub.latest().version()), 5s));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["applied"] == true);

  // A version this replica never built is not trusted.
  REQUIRE(proxy.wait_ack(proxy.flush(false, 12345), 5s));
  std::tie(status, body) = scaler.admin_get("/v1/routes/shop/web");
  CHECK(body["applied"] == false);
  CHECK(body["proxies"]["pending"][0]["reason"] == "unknown table version");

  // The metrics say the same.
  std::tie(status, body) = scaler.admin_get("/v1/routes");
  CHECK(body["routes"][0]["applied"] == false);
  CHECK(scaler.admin_get("/v1/routes/Bad_NS/web").first == 400);
}

TEST_CASE("410 Gone: the scaler relists and keeps following") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));
  auto* source = dynamic_cast<KubeApiSource*>(scaler.rollout->source());
  REQUIRE(source);
  REQUIRE(api.wait_for_watches(4, 5s));
  const uint64_t lists = source->relists();
  // Changes made while the watches are expired are picked up by the relist.
  api.expire_watches();
  auto client = plugin_client(api);
  set_split(*client, 1, 30);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 30; }));
  CHECK(eventually([&] { return source->relists() >= lists + 4; }));
}

TEST_CASE("an API server restart: watches reconnect and nothing is lost") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));
  REQUIRE(api.wait_for_watches(4, 5s));
  api.restart();
  // A change right after the restart, while the scaler is reconnecting.
  api.upsert(slice("web-stable-1", "web-stable", {"10.0.0.9"}));
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-stable")->endpoints_size() == 1 &&
           find_backend(*r, "web-stable")->endpoints(0).ip() == "10.0.0.9";
  }));
  CHECK(api.wait_for_watches(4, 10s));
  // The proxies were never sent an empty or partial table.
  for (const auto& t : sub.tables()) CHECK(routes_shop_web(t));
}

TEST_CASE("token rotation: the new service-account token is read from the file") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  const std::string kubeconfig = write_kubeconfig(dir, api, "token-1");
  api.set_tokens({"token-1"});
  RolloutScaler scaler(clock, kube_settings(kubeconfig));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));
  // The kubelet rotates the token; the API server stops accepting the old one and drops the
  // watches that were authenticated with it.
  dir.write("token", "token-2\n");
  api.set_tokens({"token-2", "test-token"});
  api.restart(/*keep_history=*/true);
  auto client = plugin_client(api);
  set_split(*client, 1, 10);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 10; }));
  bool saw_new = false;
  for (const auto& r : api.requests()) saw_new |= r.authorization == "Bearer token-2";
  CHECK(saw_new);
}

TEST_CASE("a replica that has not synced claims nothing and publishes nothing") {
  FakeApiServer api;
  create_shop(api);
  api.fail_next(1'000'000, 503);  // the API server is unwell: every list fails
  TempDir dir;
  SystemClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)));
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(eventually([&] { return api.requests().size() >= 8; }));
  auto [status, body] = scaler.admin_get("/v1/routes/shop/web");
  CHECK(status == 503);
  CHECK(body["synced"] == false);
  CHECK(body["applied"] == false);
  CHECK(sub.tables().empty());
  api.fail_next(0, 503);
  REQUIRE(sub.wait(routes_shop_web));
  CHECK(scaler.admin_get("/v1/routes/shop/web").first == 200);
}

TEST_CASE("KEDA's answers follow the Rollout: rolloutAware requestRate") {
  FakeApiServer api;
  json ro = rollout_object();
  ro["status"] = {{"stableRS", "aaa"}, {"currentPodHash", "bbb"}, {"currentStepIndex", 0}};
  api.upsert(ro);
  api.upsert(service("web-stable"));
  api.upsert(service("web-canary"));
  api.upsert(scaled_object());
  TempDir dir;
  ManualClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)), /*maintenance=*/false);
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));

  // Traffic: 40 req/s to stable and 60 to canary (header routes send the beta users there),
  // though Argo gives the canary only 20% of the replicas.
  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-a", 1);
  REQUIRE(proxy.connect());
  const uint32_t s = proxy.define("shop/web", "web-stable");
  const uint32_t c = proxy.define("shop/web", "web-canary");
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  report_ten_seconds(proxy, clock, s, c, 40, 60);
  keda::KedaClient keda(web_keda(scaler.keda_address()));
  REQUIRE(keda.reconcile().ok());

  // What the scaler itself measures per backend (the same reads the computation makes).
  auto route = scaler.server->aggregator().find_route("shop/web");
  REQUIRE(route);
  double stable_rate = 0, canary_rate = 0;
  for (size_t i = 0; i < route->series_count(); ++i) {
    const auto& series = route->series(i);
    const double r = route->request_rate(series, clock.unix_ms(), 60'000);
    (series.backend() == "web-stable" ? stable_rate : canary_rate) += r;
  }
  REQUIRE(stable_rate > 0);
  REQUIRE(canary_rate > stable_rate);
  const double sum = stable_rate + canary_rate;

  // Mid-canary at setWeight 20 without dynamicStableScale: canary = ceil(0.2 N), stable = N.
  RolloutContext ctx;
  ctx.promoted = false;
  ctx.canary_scale_weight = 20;
  const auto expected = rollout_aware_replicas(ctx, stable_rate, canary_rate, 50);
  REQUIRE(expected.replicas > static_cast<int64_t>(std::ceil(sum / 50)));
  keda::PollResult p = keda.poll();
  REQUIRE(!p.triggers[0].error);
  CHECK(p.desired_replicas == expected.replicas);
  CHECK(p.triggers[0].values[0] == doctest::Approx(expected.replicas * 50.0));

  // The Rollout is promoted: back to the plain sum, as soon as the watch delivers it.
  ro["status"] = {{"stableRS", "bbb"}, {"currentPodHash", "bbb"}, {"currentStepIndex", 2}};
  api.upsert(ro);
  REQUIRE(eventually([&] {
    return keda.poll().desired_replicas == static_cast<int64_t>(std::ceil(sum / 50 - 1e-9));
  }));
}

TEST_CASE("a malformed object from the API server is reported and skipped, its last good kept") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  SystemClock clock;
  LogCapture logs;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)), true, logs.logger());
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-canary")->endpoints_size() == 1;
  }));
  const auto invalid = [&](const std::string& kind) {
    return metric_value(scaler.admin_raw("/metrics").second,
                        "lockstep_scaler_objects_invalid_total{kind=\"" + kind + "\"}");
  };
  CHECK(invalid("Service") == -1);

  // The canary Service is edited into something that is not a Service any more.
  json bad = service("web-canary");
  bad["spec"]["ports"][0]["port"] = "eighty";
  api.upsert(bad);
  REQUIRE(eventually([&] { return invalid("Service") == 1; }));
  CHECK(logs.has({"shop/web-canary", "spec.ports[0].port", "must be an integer"}));
  // A brand-new malformed ScaledObject is skipped; the good one still routes.
  json bad_so = scaled_object();
  bad_so["metadata"]["name"] = "broken";
  bad_so["spec"]["triggers"][0]["metadata"]["hosts"] = 42;
  api.upsert(bad_so);
  REQUIRE(eventually([&] { return invalid("ScaledObject") == 1; }));
  CHECK(logs.has({"shop/broken", "spec.triggers[0].metadata.hosts"}));

  // The last good Service stays: a change elsewhere rebuilds the table, the canary keeps its
  // port and endpoints, and nothing routes "broken".
  api.upsert(slice("web-canary-1", "web-canary", {"10.0.1.1", "10.0.1.7"}));
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-canary")->endpoints_size() == 2;
  }));
  CHECK(find_route(sub.latest(), "shop/broken") == nullptr);

  // A relist (410) keeps it too: the malformed object is listed but not dropped.
  api.expire_watches();
  api.upsert(slice("web-stable-1", "web-stable", {"10.0.0.5"}));
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-stable")->endpoints_size() == 1;
  }));
  CHECK(find_backend(*find_route(sub.latest(), "shop/web"), "web-canary")->endpoints_size() == 2);
  // Each kind relists on its own: wait until the Services' relist has parsed the malformed one
  // again, or the fix below could reach that relist first and never be counted twice.
  REQUIRE(eventually([&] { return invalid("Service") == 2; }));

  // Fixed: counted no more, and the table follows the fixed object again.
  json fixed = service("web-canary");
  fixed["spec"]["ports"][0]["name"] = "web";
  api.upsert(fixed);
  REQUIRE(sub.wait([](const v1::RouteTable& t) {
    const v1::Route* r = find_route(t, "shop/web");
    return r && find_backend(*r, "web-canary")->endpoints_size() == 0;  // no port "http" now
  }));
  CHECK(invalid("Service") == doctest::Approx(2));  // once per watch event and once per relist
}

TEST_CASE("only the configured namespaces and label selectors are watched") {
  FakeApiServer api;
  create_shop(api);
  json labelled = scaled_object();
  labelled["metadata"]["labels"] = {{"lockstep.dev/enabled", "true"}};
  api.upsert(labelled);
  json other = scaled_object();  // same host, other namespace: would clash if it were seen
  other["metadata"]["namespace"] = "elsewhere";
  other["metadata"]["labels"] = {{"lockstep.dev/enabled", "true"}};
  api.upsert(other);
  json unlabelled = scaled_object();
  unlabelled["metadata"]["name"] = "api";
  unlabelled["spec"]["triggers"][0]["metadata"]["hosts"] = "api.shop.example";
  api.upsert(unlabelled);

  TempDir dir;
  SystemClock clock;
  RolloutSettings settings = kube_settings(write_kubeconfig(dir, api));
  settings.kubernetes.namespaces = "shop";
  settings.kubernetes.scaled_object_selector = "lockstep.dev/enabled=true";
  RolloutScaler scaler(clock, settings);
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));
  CHECK(sub.latest().routes_size() == 1);
  CHECK(scaler.rollout->source()->describe().find("namespaces=shop") != std::string::npos);

  // Every request was namespaced to shop; ScaledObject requests carried the selector.
  REQUIRE(api.wait_for_watches(4, 5s));
  // A watch is recorded when it ends: end them (the reflectors resume) to see their queries.
  api.end_watches();
  REQUIRE(api.wait_for_request(
      [](const FakeApiServer::Request& r) {
        return r.path.find("scaledobjects") != std::string::npos &&
               r.query.find("watch=true") != std::string::npos;
      },
      5s));
  size_t scaled_object_requests = 0;
  for (const auto& r : api.requests()) {
    CAPTURE(r.path);
    CHECK(r.path.find("/namespaces/shop/") != std::string::npos);
    if (r.path.find("scaledobjects") != std::string::npos) {
      ++scaled_object_requests;
      CHECK(r.query.find("labelSelector=lockstep.dev%2Fenabled%3Dtrue") != std::string::npos);
    } else {
      CHECK(r.query.find("labelSelector") == std::string::npos);
    }
  }
  CHECK(scaled_object_requests >= 2);  // list + watch

  // Labelling "api" brings it in (a filtered watch turns the label change into ADDED).
  unlabelled["metadata"]["labels"] = {{"lockstep.dev/enabled", "true"}};
  api.upsert(unlabelled);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return find_route(t, "shop/api") != nullptr; }));
  // Unlabelling removes it again; the other namespace was never seen.
  unlabelled["metadata"]["labels"] = json::object();
  api.upsert(unlabelled);
  REQUIRE(sub.wait([](const v1::RouteTable& t) { return find_route(t, "shop/api") == nullptr; }));
  for (const auto& t : sub.tables()) CHECK(find_route(t, "elsewhere/web") == nullptr);
}

TEST_CASE("a trigger known only from KEDA's metadata is answered before any watch has synced") {
  FakeApiServer api;
  create_shop(api);
  api.fail_next(1'000'000, 503);  // the API server is unreachable for this replica
  TempDir dir;
  ManualClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)), /*maintenance=*/false);
  REQUIRE(eventually([&] { return api.requests().size() >= 4; }));
  REQUIRE_FALSE(scaler.rollout->synced());

  // The proxies route by the table another replica sent them and report to every replica.
  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-a", 1);
  REQUIRE(proxy.connect());
  const uint32_t s = proxy.define("shop/web", "web-stable");
  const uint32_t c = proxy.define("shop/web", "web-canary");
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  report_ten_seconds(proxy, clock, s, c, 400, 100);
  keda::KedaClient keda(web_keda(scaler.keda_address()));
  REQUIRE(keda.reconcile().ok());
  keda::PollResult p = keda.poll();
  REQUIRE(!p.triggers[0].error);
  CHECK(p.active);
  // The plain sum (rolloutAware needs the Rollout, which this replica has not seen yet).
  const double sum = p.triggers[0].values[0];
  CHECK(sum > 0);
  CHECK(p.desired_replicas == static_cast<int64_t>(std::ceil(sum / 50 - 1e-9)));
  CHECK(scaler.rollout->authority().table() == nullptr);

  // The API server comes back: the watch syncs, and the same trigger keeps answering (now
  // rollout-aware, as the Rollout is promoted the value stays the sum).
  api.fail_next(0, 503);
  REQUIRE(eventually([&] { return scaler.rollout->synced(); }));
  p = keda.poll();
  REQUIRE(!p.triggers[0].error);
  CHECK(p.triggers[0].values[0] == doctest::Approx(sum));
}

TEST_CASE("per-backend series carry the role the route table gives each backend") {
  FakeApiServer api;
  create_shop(api);
  TempDir dir;
  ManualClock clock;
  RolloutScaler scaler(clock, kube_settings(write_kubeconfig(dir, api)), /*maintenance=*/false);
  RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
  REQUIRE(sub.wait(routes_shop_web));
  keda::FakeProxy proxy(scaler.ingest_channel(), "proxy-a", 1);
  REQUIRE(proxy.connect());
  const uint32_t s = proxy.define("shop/web", "web-stable");
  const uint32_t c = proxy.define("shop/web", "web-canary");
  const uint32_t o = proxy.define("shop/web", "web-mirror");
  proxy.count(s, 30);
  proxy.count(c, 20);
  proxy.count(o, 1);
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  const std::string metrics = scaler.admin_raw("/metrics").second;
  const std::string base = "lockstep_scaler_requests_total{namespace=\"shop\",route=\"web\",backend=";
  CHECK(metric_value(metrics, base + "\"web-stable\",role=\"stable\"}") == 30);
  CHECK(metric_value(metrics, base + "\"web-canary\",role=\"canary\"}") == 20);
  CHECK(metric_value(metrics, base + "\"web-mirror\",role=\"other\"}") == 1);
  CHECK(metric_value(metrics, "lockstep_scaler_split_weight{namespace=\"shop\",route=\"web\","
                              "backend=\"web-canary\",role=\"canary\"}") == 0);
  CHECK(metric_value(metrics, "lockstep_scaler_route_endpoints{namespace=\"shop\",route=\"web\","
                              "backend=\"web-stable\",role=\"stable\"}") == 2);
  CHECK(metric_value(metrics, "lockstep_scaler_routes") == 1);
  CHECK(metric_value(metrics, "lockstep_scaler_split_applied{namespace=\"shop\",route=\"web\"}") == 0);
  CHECK(metric_value(metrics, "lockstep_scaler_watch_events_total{kind=\"ScaledObject\","
                              "type=\"RELIST\"}") >= 1);
}

TEST_CASE("in-cluster mode: service account, CA and API server from the pod's environment") {
  FakeApiServer api;
  create_shop(api);
  api.set_tokens({"sa-token-1"});
  TempDir dir;
  RolloutSettings settings = kube_settings("");  // no kubeconfig: in cluster
  settings.kubernetes.in_cluster.token = dir.write("sa/token", "sa-token-1\n");
  settings.kubernetes.in_cluster.ca = dir.write("sa/ca.crt", api.pki().ca_pem());
  settings.kubernetes.in_cluster.namespace_file = dir.write("sa/namespace", "lockstep-system\n");
  ::setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", std::to_string(api.port()).c_str(), 1);
  {
    SystemClock clock;
    RolloutScaler scaler(clock, settings);
    CHECK(scaler.rollout->source()->describe() ==
          "kubernetes https://127.0.0.1:" + std::to_string(api.port()));
    RouteSubscriber sub(scaler.ingest_channel(), "proxy-a");
    REQUIRE(sub.wait(routes_shop_web));
    REQUIRE(api.wait_for_watches(4, 10s));  // no request in flight with the old token

    // The kubelet rotates the projected token (atomic rename); the API server then refuses the
    // old one and drops the watches made with it. Everything continues with the new token.
    dir.write("sa/token", "sa-token-2\n");
    api.set_tokens({"sa-token-2"});
    api.restart(/*keep_history=*/true);
    auto client = plugin_client(api);  // the test's own writer uses test-token
    api.set_tokens({"sa-token-2", "test-token"});
    set_split(*client, 1, 25);
    REQUIRE(sub.wait([](const v1::RouteTable& t) { return weight_of(t, "web-canary") == 25; }));
    bool rejected_old = false, used_new = false;
    for (const auto& r : api.requests()) {
      rejected_old |= r.authorization == "Bearer sa-token-1" && r.status == 401;
      used_new |= r.authorization == "Bearer sa-token-2" && r.status == 200;
    }
    CHECK(used_new);
    CHECK_FALSE(rejected_old);  // re-read on change before the first request, not after a 401
  }
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}
