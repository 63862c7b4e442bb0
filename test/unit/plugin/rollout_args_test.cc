#include "rollout/plugin/rollout_args.h"

#include <doctest/doctest.h>


namespace lockstep::plugin {
namespace {

using gob::Value;

// A Rollout value as the decoder builds it (only the fields the plugin reads).
Value rollout(std::string_view config = R"({"scaledObjectName":"web-so"})") {
  Value meta = Value::of_struct();
  meta.set("Name", Value::of_string("web"));
  meta.set("Namespace", Value::of_string("shop"));
  Value plugins = Value::of_map();
  if (!config.empty()) {
    plugins.map_put(Value::of_string("lockstep/http"), Value::of_bytes(std::string(config)));
  }
  plugins.map_put(Value::of_string("other/router"), Value::of_bytes("{}"));
  Value routes = Value::of_slice();
  Value r = Value::of_struct();
  r.set("Name", Value::of_string("canary-header"));
  routes.push(r);
  Value routing = Value::of_struct();
  routing.set("Plugins", plugins);
  routing.set("ManagedRoutes", routes);
  Value canary = Value::of_struct();
  canary.set("StableService", Value::of_string("web-stable"));
  canary.set("CanaryService", Value::of_string("web-canary"));
  canary.set("TrafficRouting", routing);
  Value strategy = Value::of_struct();
  strategy.set("Canary", canary);
  Value spec = Value::of_struct();
  spec.set("Strategy", strategy);
  Value status = Value::of_struct();
  status.set("StableRS", Value::of_string("abc"));
  status.set("CurrentPodHash", Value::of_string("def"));
  Value ro = Value::of_struct();
  ro.set("ObjectMeta", meta);
  ro.set("Spec", spec);
  ro.set("Status", status);
  return ro;
}

Value& canary_of(Value& ro) {
  return const_cast<Value&>(ro["Spec"]["Strategy"]["Canary"]);
}

TEST_CASE("read_rollout takes identity, services, config and hashes") {
  RolloutRef ref;
  std::string error;
  REQUIRE_MESSAGE(read_rollout(rollout(), ref, error), error);
  CHECK(ref.id() == "shop/web");
  CHECK(ref.stable_service == "web-stable");
  CHECK(ref.canary_service == "web-canary");
  CHECK(ref.max_weight == 100);  // absent on the wire: Argo's default
  CHECK(ref.managed_routes == std::vector<std::string>{"canary-header"});
  CHECK(ref.config.scaled_object == "web-so");
  CHECK(ref.stable_hash == "abc");
  CHECK(ref.canary_hash == "def");
}

TEST_CASE("the ScaledObject defaults to the Rollout's name, null and {} configs are defaults") {
  for (std::string_view config : {"", "null", "{}"}) {
    RolloutRef ref;
    std::string error;
    REQUIRE_MESSAGE(read_rollout(rollout(config), ref, error), error);
    CHECK(ref.config.scaled_object == "web");
    CHECK(ref.config.scaler_service.empty());
  }
}

TEST_CASE("ping-pong: ping is stable unless the status says pong") {
  Value ro = rollout();
  Value pp = Value::of_struct();
  pp.set("PingService", Value::of_string("web-ping"));
  pp.set("PongService", Value::of_string("web-pong"));
  canary_of(ro).set("PingPong", pp);
  RolloutRef ref;
  std::string error;
  REQUIRE(read_rollout(ro, ref, error));
  CHECK(ref.stable_service == "web-ping");
  CHECK(ref.canary_service == "web-pong");
  Value cs = Value::of_struct();
  cs.set("StablePingPong", Value::of_string("pong"));
  const_cast<Value&>(ro["Status"]).set("Canary", cs);
  REQUIRE(read_rollout(ro, ref, error));
  CHECK(ref.stable_service == "web-pong");
  CHECK(ref.canary_service == "web-ping");
}

TEST_CASE("read_rollout rejects what traffic routing cannot work with, naming the field") {
  RolloutRef ref;
  std::string error;
  SUBCASE("not a struct") {
    CHECK_FALSE(read_rollout(Value(), ref, error));
    CHECK(error.find("Rollout") != std::string::npos);
  }
  SUBCASE("no canary strategy") {
    Value ro = rollout();
    const_cast<Value&>(ro["Spec"]).set("Strategy", Value::of_struct());
    CHECK_FALSE(read_rollout(ro, ref, error));
    CHECK(error.find("no canary strategy") != std::string::npos);
  }
  SUBCASE("same stable and canary") {
    Value ro = rollout();
    canary_of(ro).set("CanaryService", Value::of_string("web-stable"));
    CHECK_FALSE(read_rollout(ro, ref, error));
    CHECK(error.find("must differ") != std::string::npos);
  }
  SUBCASE("wrong kind") {
    Value ro = rollout();
    canary_of(ro).set("StableService", Value::of_int(3));
    CHECK_FALSE(read_rollout(ro, ref, error));
    CHECK(error == "spec.strategy.canary.stableService: expected string, got int");
  }
  SUBCASE("negative maxTrafficWeight") {
    Value ro = rollout();
    const_cast<Value&>(canary_of(ro)["TrafficRouting"]).set("MaxTrafficWeight", Value::of_int(-1));
    CHECK_FALSE(read_rollout(ro, ref, error));
    CHECK(error.find("maxTrafficWeight") != std::string::npos);
  }
  SUBCASE("plugin config that is not JSON") {
    CHECK_FALSE(read_rollout(rollout("{oops"), ref, error));
    CHECK(error.find("not valid JSON") != std::string::npos);
  }
  SUBCASE("missing name") {
    Value ro = rollout();
    const_cast<Value&>(ro["ObjectMeta"]).set("Name", Value::of_string(""));
    CHECK_FALSE(read_rollout(ro, ref, error));
  }
}

TEST_CASE("plugin config keys are checked: names, ports, unknown keys") {
  PluginConfig c;
  std::string error;
  CHECK(parse_plugin_config(R"({"scaledObjectName":"a.b-c","scalerService":"s","scalerNamespace":"n","scalerAdminPort":9100})", "web", c, error));
  CHECK(c.scaled_object == "a.b-c");
  CHECK(c.scaler_admin_port == "9100");
  CHECK(parse_plugin_config(R"({"scalerAdminPort":"http-admin"})", "web", c, error));
  CHECK(c.scaler_admin_port == "http-admin");
  CHECK_FALSE(parse_plugin_config(R"({"scaledObject":"x"})", "web", c, error));
  CHECK(error.find("unknown key \"scaledObject\"") != std::string::npos);
  CHECK_FALSE(parse_plugin_config(R"({"scaledObjectName":"Web_SO"})", "web", c, error));
  CHECK(error.find("not a valid Kubernetes name") != std::string::npos);
  CHECK_FALSE(parse_plugin_config(R"({"scalerNamespace":"a.b"})", "web", c, error));
  CHECK_FALSE(parse_plugin_config(R"({"scalerAdminPort":70000})", "web", c, error));
  CHECK_FALSE(parse_plugin_config(R"({"scalerAdminPort":"a-very-long-port-name"})", "web", c, error));
  CHECK_FALSE(parse_plugin_config(R"([1,2])", "web", c, error));
  CHECK(error.find("JSON object") != std::string::npos);
}

TEST_CASE("a split is checked against maxTrafficWeight and its Services") {
  RolloutRef ro;
  ro.stable_service = "web-stable";
  ro.canary_service = "web-canary";
  std::string error;
  CHECK(validate_weights(ro, 0, {}, error));
  CHECK(validate_weights(ro, 100, {}, error));
  CHECK(validate_weights(ro, 60, {{"web-preview", "", 40}}, error));
  CHECK_FALSE(validate_weights(ro, 101, {}, error));
  CHECK_FALSE(validate_weights(ro, 61, {{"web-preview", "", 40}}, error));
  CHECK(error.find("add up to 101") != std::string::npos);
  CHECK_FALSE(validate_weights(ro, 10, {{"web-stable", "", 5}}, error));
  CHECK_FALSE(validate_weights(ro, 10, {{"a", "", 5}, {"a", "", 5}}, error));
  CHECK_FALSE(validate_weights(ro, 10, {{"Bad_Name", "", 5}}, error));
  CHECK_FALSE(validate_weights(ro, 10, {{"web-preview", "", -1}}, error));
  ro.max_weight = 1000;
  CHECK(validate_weights(ro, 999, {}, error));
}

TEST_CASE("header routes need a name and exactly one matcher per header") {
  Value route = Value::of_struct();
  route.set("Name", Value::of_string("beta"));
  Value matches = Value::of_slice();
  Value m = Value::of_struct();
  m.set("HeaderName", Value::of_string("X-Beta"));
  Value sm = Value::of_struct();
  sm.set("Prefix", Value::of_string("yes"));
  m.set("HeaderValue", sm);
  matches.push(m);
  route.set("Match", matches);
  HeaderRoute out;
  std::string error;
  REQUIRE(read_header_route(route, out, error));
  CHECK(out.matches[0].value.prefix == "yes");
  sm.set("Exact", Value::of_string("also"));
  m.set("HeaderValue", sm);
  Value two = Value::of_slice();
  two.push(m);
  route.set("Match", two);
  CHECK_FALSE(read_header_route(route, out, error));
  CHECK(error.find("exactly one of Exact, Prefix and Regex") != std::string::npos);
  route.set("Match", Value::of_slice());
  REQUIRE(read_header_route(route, out, error));  // no matches: removes the route
  CHECK(out.matches.empty());
  route.set("Name", Value::of_string(""));
  CHECK_FALSE(read_header_route(route, out, error));
}

}  // namespace
}  // namespace lockstep::plugin
