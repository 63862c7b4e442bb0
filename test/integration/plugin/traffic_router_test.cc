// The traffic router against the fake Kubernetes API (real HTTPS) and fake scaler replicas (real
// HTTP), in process: the annotation's life cycle, conflicts and API failures, and every way
// VerifyWeight can come out.
#include "rollout/plugin/traffic_router.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "rollout/plugin/plugin_methods.h"
#include "test/peers/plugin/plugin_cluster.h"

namespace lockstep::plugin {
namespace {

using testing::FakeScalerFleet;
using testing::PluginCluster;

RolloutRef web() {
  RolloutRef ro;
  ro.ns = PluginCluster::kNamespace;
  ro.name = "recommender";
  ro.stable_service = "recommender-stable";
  ro.canary_service = "recommender-canary";
  ro.config.scaled_object = PluginCluster::kScaledObject;
  ro.managed_routes = {"beta"};
  return ro;
}

HeaderRoute beta_route() { return HeaderRoute{"beta", {{"X-Beta", {"yes", "", ""}}}}; }

struct Fixture {
  PluginCluster cluster;
  TrafficRouter router;

  explicit Fixture(size_t scalers = 2, RouterOptions options = {})
      : cluster(scalers), router(with_scaler(options), loader(), Logger(LogLevel::kError)) {}

  static RouterOptions with_scaler(RouterOptions o) {
    o.scaler_namespace = PluginCluster::kScalerNamespace;
    o.scaler_service = PluginCluster::kScalerService;
    o.verify_timeout = std::chrono::milliseconds(500);
    o.kube.request_timeout = std::chrono::milliseconds(3000);
    return o;
  }
  KubeConfigLoader loader() {
    return [this](kube::KubeConfig& out, std::string&) {
      out = cluster.api().client_config();
      return true;
    };
  }
  size_t patches() const {
    size_t n = 0;
    for (const auto& r : cluster.api().requests()) n += r.method == "PATCH" && r.status == 200;
    return n;
  }
};

TEST_CASE("SetWeight writes the annotation once, repeats cost no write, weight 0 removes it") {
  Fixture f;
  CHECK(f.router.set_weight(web(), 20, {}) == "");
  auto split = f.cluster.split();
  REQUIRE(split);
  CHECK((*split)["canaryWeight"] == 20);
  CHECK((*split)["stableService"] == "recommender-stable");
  CHECK(f.patches() == 1);
  CHECK(f.router.set_weight(web(), 20, {}) == "");
  CHECK(f.patches() == 1);  // idempotent: nothing changed, nothing written
  CHECK(f.router.set_weight(web(), 50, {{"recommender-preview", "h", 10}}) == "");
  CHECK((*f.cluster.split())["additionalDestinations"][0]["weight"] == 10);
  CHECK(f.router.set_weight(web(), 0, {}) == "");
  CHECK_FALSE(f.cluster.split().has_value());
  const size_t after_removal = f.patches();
  CHECK(f.router.set_weight(web(), 0, {}) == "");
  CHECK(f.patches() == after_removal);
}

TEST_CASE("header routes live next to the weight, RemoveManagedRoutes keeps the weight") {
  Fixture f;
  CHECK(f.router.set_header_route(web(), beta_route()) == "");
  auto split = f.cluster.split();
  REQUIRE(split);  // weight 0 with a header route still needs the annotation
  CHECK((*split)["canaryWeight"] == 0);
  CHECK((*split)["headerRoutes"][0]["match"][0]["exact"] == "yes");
  CHECK(f.router.set_weight(web(), 10, {}) == "");
  CHECK((*f.cluster.split())["headerRoutes"].size() == 1);
  // Replacing a route by name, then removing it with an empty match list.
  CHECK(f.router.set_header_route(web(), HeaderRoute{"beta", {{"X-Beta", {"", "b", ""}}}}) == "");
  CHECK((*f.cluster.split())["headerRoutes"][0]["match"][0]["prefix"] == "b");
  CHECK(f.router.set_header_route(web(), HeaderRoute{"beta", {}}) == "");
  CHECK((*f.cluster.split())["headerRoutes"].empty());
  CHECK(f.router.set_header_route(web(), beta_route()) == "");
  CHECK(f.router.remove_managed_routes(web()) == "");
  CHECK((*f.cluster.split())["canaryWeight"] == 10);
  CHECK((*f.cluster.split())["headerRoutes"].empty());
  CHECK(f.router.set_weight(web(), 0, {}) == "");
  CHECK_FALSE(f.cluster.split().has_value());
  CHECK(f.router.set_header_route(web(), HeaderRoute{"gamma", {{"X", {"1", "", ""}}}})
            .find("not listed in spec.strategy.canary.trafficRouting.managedRoutes") != std::string::npos);
}

TEST_CASE("mirror routes are refused, removing one succeeds") {
  Fixture f;
  CHECK(f.router.set_mirror_route(web(), MirrorRoute{"m", 1, 10}).find("does not mirror") != std::string::npos);
  CHECK(f.router.set_mirror_route(web(), MirrorRoute{"m", 0, 0}) == "");
}

TEST_CASE("ping-pong swaps the Services in the annotation") {
  Fixture f;
  RolloutRef ro = web();
  CHECK(f.router.set_weight(ro, 30, {}) == "");
  std::swap(ro.stable_service, ro.canary_service);
  CHECK(f.router.set_weight(ro, 30, {}) == "");
  CHECK((*f.cluster.split())["stableService"] == "recommender-canary");
}

TEST_CASE("a missing ScaledObject is an error, except when there is nothing to remove") {
  Fixture f;
  RolloutRef ro = web();
  ro.config.scaled_object = "nope";
  const std::string error = f.router.set_weight(ro, 20, {});
  CHECK(error.find("ScaledObject shop/nope not found") != std::string::npos);
  CHECK(f.router.set_weight(ro, 0, {}) == "");
  CHECK(f.router.remove_managed_routes(ro) == "");
}

TEST_CASE("conflicting writers: a 409 is retried from a fresh read, no update is lost") {
  // Someone else keeps writing the ScaledObject, so our resourceVersion is often stale between
  // our GET and our PATCH.
  RouterOptions o;
  o.conflict_retries = 3;
  Fixture g(2, o);
  std::atomic<bool> stop{false};
  std::thread other([&] {
    int i = 0;
    while (!stop.load()) {
      auto so = g.cluster.api().get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender-so");
      (*so)["metadata"]["labels"]["touched"] = std::to_string(i++);
      g.cluster.api().upsert(*so);
    }
  });
  std::string last;
  for (int w = 1; w <= 20; ++w) {
    last = g.router.set_weight(web(), w, {});
    if (!last.empty()) CHECK(last.find("still conflicting") != std::string::npos);
  }
  stop.store(true);
  other.join();
  CHECK(g.router.set_weight(web(), 42, {}) == "");
  CHECK((*g.cluster.split())["canaryWeight"] == 42);
  size_t conflicts = 0;
  for (const auto& r : g.cluster.api().requests()) conflicts += r.method == "PATCH" && r.status == 409;
  MESSAGE("PATCH conflicts seen and retried: " << conflicts);
  // The other writer's label survived every one of our patches (a merge patch, not a replace).
  CHECK((*g.cluster.api().get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender-so"))["metadata"]["labels"].contains("touched"));
}

TEST_CASE("API failures come back as errors that say what to fix") {
  Fixture f;
  f.cluster.api().fail_next(1, 403);
  const std::string forbidden = f.router.set_weight(web(), 20, {});
  CHECK(forbidden.find("HTTP 403") != std::string::npos);
  CHECK(forbidden.find("scaledobjects.keda.sh") != std::string::npos);
  f.cluster.api().fail_next(1, 500);
  CHECK(f.router.set_weight(web(), 20, {}).find("HTTP 500") != std::string::npos);
  CHECK(f.router.set_weight(web(), 20, {}) == "");  // and it recovers
}

TEST_CASE("an unreachable API server or missing service-account files is an error, retried later") {
  std::atomic<int> loads{0};
  std::atomic<bool> available{false};
  PluginCluster cluster;
  TrafficRouter router(Fixture::with_scaler({}),
                       [&](kube::KubeConfig& out, std::string& error) {
                         ++loads;
                         if (!available.load()) {
                           error = "KUBERNETES_SERVICE_HOST is not set";
                           return false;
                         }
                         out = cluster.api().client_config();
                         return true;
                       },
                       Logger(LogLevel::kError));
  CHECK(router.init().find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  CHECK(router.set_weight(web(), 10, {}).find("cannot configure") != std::string::npos);
  CHECK(router.verify_weight(web(), 10, {}) == Verification::kNotVerified);
  available.store(true);
  CHECK(router.set_weight(web(), 10, {}) == "");
  CHECK(loads.load() == 4);
  // A dead API server: connection refused.
  TrafficRouter dead(Fixture::with_scaler({}),
                     [](kube::KubeConfig& out, std::string&) {
                       out.host = "127.0.0.1";
                       out.port = 1;
                       return true;
                     },
                     Logger(LogLevel::kError));
  CHECK(dead.set_weight(web(), 10, {}).find("unreachable") != std::string::npos);
  // A host name would need a resolver: refused before any lookup.
  TrafficRouter named(Fixture::with_scaler({}),
                      [](kube::KubeConfig& out, std::string&) {
                        out.host = "kubernetes.default.svc";
                        out.port = 443;
                        return true;
                      },
                      Logger(LogLevel::kError));
  CHECK(named.init().find("is not an IP address") != std::string::npos);
}

size_t requests_since(const PluginCluster& c, size_t from, const char* method = nullptr) {
  const auto all = c.api().requests();
  size_t n = 0;
  for (size_t i = from; i < all.size(); ++i) n += method == nullptr || all[i].method == method;
  return n;
}

void edit_annotation(PluginCluster& c, const std::optional<std::string>& value) {
  auto so = *c.api().get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender-so");
  if (value) {
    so["metadata"]["annotations"]["lockstep.dev/split"] = *value;
  } else {
    so["metadata"]["annotations"].erase("lockstep.dev/split");
  }
  c.api().upsert(so);
}

TEST_CASE("a weight change costs one conditional write, status churn does not conflict") {
  Fixture f;
  CHECK(f.router.set_weight(web(), 10, {}) == "");  // GET + creating merge patch
  // KEDA updates the ScaledObject's status all the time: the resourceVersion moves on.
  auto so = *f.cluster.api().get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender-so");
  so["status"]["lastActiveTime"] = "2026-11-28T10:00:00Z";
  f.cluster.api().upsert(so);
  const size_t before = f.cluster.api().requests().size();
  CHECK(f.router.set_weight(web(), 20, {}) == "");
  CHECK(requests_since(f.cluster, before) == 1);  // the JSON patch alone, and it succeeded
  CHECK(requests_since(f.cluster, before, "PATCH") == 1);
  CHECK(f.cluster.api().requests().back().status == 200);
  CHECK((*f.cluster.split())["canaryWeight"] == 20);
  // An unchanged split is confirmed with one read and not written.
  const size_t again = f.cluster.api().requests().size();
  CHECK(f.router.set_weight(web(), 20, {}) == "");
  CHECK(requests_since(f.cluster, again) == 1);
  CHECK(requests_since(f.cluster, again, "GET") == 1);
}

TEST_CASE("edits made behind the plugin's back are never overwritten blindly") {
  Fixture f;
  CHECK(f.router.set_header_route(web(), beta_route()) == "");
  CHECK(f.router.set_weight(web(), 10, {}) == "");
  SUBCASE("someone rewrote the annotation: the test op fails, the plugin re-reads and merges") {
    rollout::Split other;
    other.generation = 40;
    other.stable_service = "recommender-stable";
    other.canary_service = "recommender-canary";
    other.canary_weight = 10;
    other.header_routes = {{"gamma", {{"X-Gamma", rollout::SplitHeaderMatch::Kind::kExact, "1"}}, ""}};
    edit_annotation(f.cluster, rollout::serialize_split_annotation(other));
    CHECK(f.router.set_weight(web(), 30, {}) == "");
    const auto split = f.cluster.split();
    CHECK((*split)["canaryWeight"] == 30);
    REQUIRE((*split)["headerRoutes"].size() == 1);
    CHECK((*split)["headerRoutes"][0]["name"] == "gamma");  // their route survived
    CHECK((*split)["generation"] == 41);                    // and their generation went on
  }
  SUBCASE("someone removed the annotation: it is created again") {
    edit_annotation(f.cluster, std::nullopt);
    CHECK(f.router.set_weight(web(), 30, {}) == "");
    CHECK((*f.cluster.split())["canaryWeight"] == 30);
    CHECK((*f.cluster.split())["headerRoutes"].empty());
  }
  SUBCASE("someone changed it back while the plugin thinks it is current: it is restored") {
    rollout::Split fifty;
    fifty.generation = 9;
    fifty.stable_service = "recommender-stable";
    fifty.canary_service = "recommender-canary";
    fifty.canary_weight = 50;
    edit_annotation(f.cluster, rollout::serialize_split_annotation(fifty));
    CHECK(f.router.set_weight(web(), 10, {}) == "");
    CHECK((*f.cluster.split())["canaryWeight"] == 10);
  }
}

TEST_CASE("an unreadable annotation is replaced, not trusted") {
  Fixture f;
  auto so = *f.cluster.api().get("keda.sh/v1alpha1", "ScaledObject", "shop", "recommender-so");
  so["metadata"]["annotations"]["lockstep.dev/split"] = "{broken";
  f.cluster.api().upsert(so);
  CHECK(f.router.set_weight(web(), 15, {}) == "");
  CHECK((*f.cluster.split())["canaryWeight"] == 15);
}

TEST_CASE("VerifyWeight: Verified only when every ready replica reports the split applied") {
  Fixture f(3);
  CHECK(f.router.set_weight(web(), 20, {}) == "");
  CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kVerified);
  CHECK(f.cluster.scalers().calls() == 3);

  SUBCASE("a replica that has not seen the new weight") {
    CHECK(f.router.verify_weight(web(), 30, {}) == Verification::kNotVerified);
  }
  SUBCASE("a replica whose proxies have not all applied it") {
    f.cluster.scalers().set_report(1, [](const std::optional<std::string>& a) {
      HttpResponse r = FakeScalerFleet::applied(a);
      auto j = nlohmann::json::parse(r.body);
      j["applied"] = false;
      j["proxies"]["applied"] = 1;
      r.body = j.dump();
      return r;
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
  SUBCASE("a replica that has not synced since it started") {
    f.cluster.scalers().set_report(0, [](const std::optional<std::string>&) {
      return HttpResponse{503, "application/json", R"({"synced":false,"applied":false,"reason":"watches not synced"})"};
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
  SUBCASE("a replica routing other Services (the Rollout's services are changing)") {
    f.cluster.scalers().set_report(0, [](const std::optional<std::string>& a) {
      HttpResponse r = FakeScalerFleet::applied(a);
      auto j = nlohmann::json::parse(r.body);
      j["desired"]["canaryService"] = "recommender-old";
      r.body = j.dump();
      return r;
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
  SUBCASE("a replica that does not know the ScaledObject yet") {
    f.cluster.scalers().set_report(2, [](const std::optional<std::string>&) {
      return HttpResponse{404, "application/json", "{}"};
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
  SUBCASE("garbage from a replica") {
    f.cluster.scalers().set_report(0, [](const std::optional<std::string>&) {
      return HttpResponse{200, "application/json", "not json"};
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
  SUBCASE("a not-ready replica is not asked") {
    f.cluster.scalers().set_report(2, [](const std::optional<std::string>&) {
      return HttpResponse{500, "text/plain", "down"};
    });
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
    f.cluster.scalers().publish({2});
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kVerified);
  }
  SUBCASE("an unreachable replica") {
    f.cluster.scalers().publish({}, {"127.0.0.1"});  // a ready endpoint on port 9: refused
    CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  }
}

TEST_CASE("VerifyWeight: the same weights from an older generation, or a removed split, are not verified") {
  Fixture f(2);
  CHECK(f.router.set_weight(web(), 20, {}) == "");               // generation 1
  CHECK(f.router.set_header_route(web(), beta_route()) == "");   // generation 2, same weight
  CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kVerified);
  // A replica whose proxies still apply generation 1: weight 20 too, but not the header route.
  f.cluster.scalers().set_report(1, [](const std::optional<std::string>& a) {
    HttpResponse r = FakeScalerFleet::applied(a);
    auto j = nlohmann::json::parse(r.body);
    j["desired"]["generation"] = 1;
    j["desired"].erase("headerRoutes");
    r.body = j.dump();
    return r;
  });
  CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kNotVerified);
  f.cluster.scalers().set_report(1, &FakeScalerFleet::applied);
  CHECK(f.router.verify_weight(web(), 20, {}) == Verification::kVerified);

  // Weight 0 and no routes: the annotation is gone, and a replica still routing a split with
  // weight 0 (its header route still sending requests to the canary) has not caught up.
  CHECK(f.router.remove_managed_routes(web()) == "");
  CHECK(f.router.set_weight(web(), 0, {}) == "");
  REQUIRE_FALSE(f.cluster.split().has_value());
  CHECK(f.router.verify_weight(web(), 0, {}) == Verification::kVerified);
  f.cluster.scalers().set_report(0, [](const std::optional<std::string>&) {
    return FakeScalerFleet::applied(std::string(
        R"({"generation":2,"stableService":"recommender-stable","canaryService":"recommender-canary",)"
        R"("canaryWeight":0,"maxWeight":100,"headerRoutes":[{"name":"beta","match":[{"headerName":"X-Beta","exact":"yes"}]}]})"));
  });
  CHECK(f.router.verify_weight(web(), 0, {}) == Verification::kNotVerified);
}

TEST_CASE("VerifyWeight for weight 0: the scaler reports no split at all") {
  Fixture f(2);
  CHECK(f.router.set_weight(web(), 0, {}) == "");
  CHECK(f.router.verify_weight(web(), 0, {}) == Verification::kVerified);
  CHECK(f.router.verify_weight(web(), 5, {}) == Verification::kNotVerified);
  // No annotation, but the scaler still routes by the Rollout's status (its fallback): the canary
  // backend's weight tells.
  f.cluster.scalers().set_report(1, [](const std::optional<std::string>& a) {
    HttpResponse r = FakeScalerFleet::applied(a);
    auto j = nlohmann::json::parse(r.body);
    j["splitSource"] = "rollout-status";
    j["backends"][1]["weight"] = 20;
    r.body = j.dump();
    return r;
  });
  CHECK(f.router.verify_weight(web(), 0, {}) == Verification::kNotVerified);
}

TEST_CASE("additional destinations: written, then verified by their weights") {
  Fixture f(2);
  const std::vector<WeightDestination> extra = {{"recommender-preview", "h1", 10}};
  CHECK(f.router.set_weight(web(), 30, extra) == "");
  const auto split = f.cluster.split();
  CHECK((*split)["additionalDestinations"][0]["serviceName"] == "recommender-preview");
  CHECK((*split)["rollout"] == "recommender");
  CHECK((*split)["generation"] == 1);
  CHECK(f.router.verify_weight(web(), 30, extra) == Verification::kVerified);
  CHECK(f.router.verify_weight(web(), 30, {}) == Verification::kNotVerified);
  CHECK(f.router.verify_weight(web(), 30, {{"recommender-preview", "h1", 5}}) == Verification::kNotVerified);
}

TEST_CASE("a split the scalers would reject is never written") {
  Fixture f(0);
  HeaderRoute bad{"beta", {{"X-Beta", {"", "", "("}}}};  // a regex that does not compile
  CHECK(f.router.set_header_route(web(), bad).find("the split would be invalid") != std::string::npos);
  CHECK_FALSE(f.cluster.split().has_value());
}

TEST_CASE("VerifyWeight with no ready replica, or a replica that never answers, is NotVerified in time") {
  Fixture none(0);
  CHECK(none.router.verify_weight(web(), 0, {}) == Verification::kNotVerified);

  // A listener that accepts and never answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 4) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len);
  Fixture f(1);
  RolloutRef ro = web();
  ro.config.scaler_admin_port = std::to_string(ntohs(addr.sin_port));  // numeric: every endpoint
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(f.router.verify_weight(ro, 0, {}) == Verification::kNotVerified);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  ::close(silent);
}

TEST_CASE("EndpointSlice listing failures are NotVerified, never an exception") {
  Fixture f(1);
  f.cluster.api().fail_next(1, 403);
  CHECK(f.router.verify_weight(web(), 0, {}) == Verification::kNotVerified);
  RolloutRef other = web();
  other.config.scaler_service = "elsewhere";
  CHECK(f.router.verify_weight(other, 0, {}) == Verification::kNotVerified);
  CHECK(f.router.verify_weight(web(), 101, {}) == Verification::kNotVerified);
}

TEST_CASE("UpdateHash records the hashes per Rollout") {
  Fixture f(0);
  CHECK(f.router.update_hash(web(), "c1", "s1", {{"p", "h", 1}}) == "");
  TrafficRouter::Hashes h;
  REQUIRE(f.router.hashes("shop/recommender", h));
  CHECK(h.canary == "c1");
  CHECK(h.stable == "s1");
  CHECK(h.additional.size() == 1);
  CHECK_FALSE(f.router.hashes("shop/other", h));
}

// The Plugin.* table with hand-made arguments: wrong types and broken Rollouts get RpcErrors.
TEST_CASE("plugin methods answer malformed arguments with RpcErrors that name the Rollout") {
  Fixture f(0);
  const RpcServiceTable table = traffic_router_methods(f.router, Logger(LogLevel::kError));
  const auto call = [&](const char* method, const gob::Value& args) {
    const RpcMethod* m = table.find(method);
    REQUIRE(m);
    return m->handler(args);
  };
  CHECK(call("Plugin.Type", gob::Value()).body.as_string() == "Lockstep");
  RpcReply init = call("Plugin.InitPlugin", gob::Value());
  CHECK(init.body["ErrorString"].as_string() == "");

  RpcReply wrong = call("Plugin.SetWeight", gob::Value::of_interface("SetHeaderArgs", gob::Value::of_struct()));
  CHECK(wrong.body["ErrorString"].as_string().find("invalid args: expected SetWeightAndVerifyWeightArgs") != std::string::npos);
  RpcReply not_iface = call("Plugin.RemoveManagedRoutes", gob::Value::of_string("x"));
  CHECK(not_iface.body["ErrorString"].as_string().find("invalid args") != std::string::npos);

  gob::Value meta = gob::Value::of_struct();
  meta.set("Name", gob::Value::of_string("recommender"));
  meta.set("Namespace", gob::Value::of_string("shop"));
  gob::Value ro = gob::Value::of_struct();
  ro.set("ObjectMeta", meta);
  gob::Value args = gob::Value::of_struct();
  args.set("Rollout", ro);
  args.set("DesiredWeight", gob::Value::of_int(10));
  RpcReply no_canary = call("Plugin.SetWeight", gob::Value::of_interface("SetWeightAndVerifyWeightArgs", args));
  CHECK(no_canary.body["ErrorString"].as_string() ==
        "lockstep/http: Rollout shop/recommender: spec.strategy.canary: the Rollout has no canary "
        "strategy (traffic routing needs one)");
  RpcReply verify = call("Plugin.VerifyWeight", gob::Value::of_interface("SetWeightAndVerifyWeightArgs", args));
  CHECK(verify.body["Verified"].as_int() == 0);
  CHECK(verify.body["Err"]["ErrorString"].as_string().find("shop/recommender") != std::string::npos);
}

}  // namespace
}  // namespace lockstep::plugin
