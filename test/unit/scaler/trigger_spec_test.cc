// The trigger metadata parser: defaults, every rule, and errors that name key, value and rule.
#include "scaler/trigger_spec.h"

#include <doctest/doctest.h>

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;
using Metadata = std::map<std::string, std::string>;

Metadata base(Metadata extra = {}) {
  Metadata m = {{"hosts", "shop.example.com"}, {"targetValue", "100"}};
  for (auto& [k, v] : extra) m[k] = v;
  return m;
}

TriggerSpec ok(const Metadata& m, std::string_view ns = "shop", std::string_view name = "web") {
  auto r = parse_trigger_metadata(ns, name, m);
  INFO((r.error ? r.error->message() : std::string()));
  REQUIRE(r.spec.has_value());
  REQUIRE_FALSE(r.error.has_value());
  return *r.spec;
}

MetadataError bad(const Metadata& m, std::string_view ns = "shop", std::string_view name = "web") {
  auto r = parse_trigger_metadata(ns, name, m);
  REQUIRE(r.error.has_value());
  REQUIRE_FALSE(r.spec.has_value());
  return *r.error;
}

void check_error(const Metadata& m, const std::string& key, const std::string& value,
                 const std::string& rule_part) {
  const MetadataError e = bad(m);
  CHECK(e.key == key);
  CHECK(e.value == value);
  INFO(e.rule);
  CHECK(e.rule.find(rule_part) != std::string::npos);
  const std::string msg = e.message();
  CHECK(msg.find("\"" + key + "\"") != std::string::npos);
  CHECK(msg.find("\"" + value + "\"") != std::string::npos);
}

TEST_CASE("defaults: requestRate over 1m at 1s, path /, activation 0") {
  const TriggerSpec s = ok(base());
  CHECK(s.route_key == "shop/web");
  CHECK(s.hosts == std::vector<std::string>{"shop.example.com"});
  CHECK(s.path_prefixes == std::vector<std::string>{"/"});
  CHECK(s.metric == ScalingMetric::kRequestRate);
  CHECK(s.target_value == 100);
  CHECK(s.window == 1min);
  CHECK(s.granularity == 1s);
  CHECK(s.activation_value == 0);
  CHECK(s.metric_name == "lockstep-requestrate-shop-web");
  CHECK(s.warnings.empty());
  CHECK(s.shape() == aggregator::RouteShape{1000, 60'000});
}

TEST_CASE("every key parsed: lists, durations, fractions, concurrency") {
  const TriggerSpec s = ok({{"hosts", " Shop.Example.com, *.api.example.com ,shop.example.com"},
                            {"pathPrefixes", "/api,/cart, /api"},
                            {"service", "web-stable"},
                            {"port", "8080"},
                            {"rollout", "web"},
                            {"scalingMetric", "concurrency"},
                            {"targetValue", "2.5"},
                            {"window", "1m30s"},
                            {"granularity", "500ms"},
                            {"activationValue", "0.5"},
                            {"scalerAddress", "lockstep-scaler.lockstep:9090"},
                            {"enableTLS", "true"}});
  CHECK(s.hosts == std::vector<std::string>{"shop.example.com", "*.api.example.com"});
  CHECK(s.path_prefixes == std::vector<std::string>{"/api", "/cart"});
  CHECK(s.service == "web-stable");
  CHECK(s.port == 8080);
  CHECK(s.rollout == "web");
  CHECK(s.metric == ScalingMetric::kConcurrency);
  CHECK(s.target_value == 2.5);
  CHECK(s.window == 90s);
  CHECK(s.granularity == 500ms);
  CHECK(s.activation_value == 0.5);
  CHECK(s.metric_name == "lockstep-concurrency-shop-web");
  CHECK(s.warnings.empty());  // KEDA's own keys are not ours to warn about
  CHECK(ok(base({{"portName", "http"}})).port_name == "http");
}

TEST_CASE("the ScaledObject names must be Kubernetes names") {
  auto e = bad(base(), "Shop", "web");
  CHECK(e.key == "namespace");
  e = bad(base(), "shop", "web_1");
  CHECK(e.key == "name");
  CHECK(e.message() == "trigger metadata \"name\" = \"web_1\": the ScaledObject name must be a "
                       "DNS-1123 subdomain");
}

TEST_CASE("hosts: required, names or *.domain, no ports") {
  check_error({{"targetValue", "1"}}, "hosts", "", "required");
  check_error(base({{"hosts", " , "}}), "hosts", " , ", "required");
  check_error(base({{"hosts", "a.com,b_c.com"}}), "hosts", "a.com,b_c.com", "host \"b_c.com\"");
  check_error(base({{"hosts", "a.com:8080"}}), "hosts", "a.com:8080", "must not carry a port");
  check_error(base({{"hosts", "*"}}), "hosts", "*", "neither a DNS name");
  check_error(base({{"hosts", "a.*.com"}}), "hosts", "a.*.com", "neither a DNS name");
}

TEST_CASE("pathPrefixes must be paths") {
  check_error(base({{"pathPrefixes", "api"}}), "pathPrefixes", "api", "must start with \"/\"");
  check_error(base({{"pathPrefixes", "/a?b"}}), "pathPrefixes", "/a?b", "must be a path");
}

TEST_CASE("service, rollout, port and portName") {
  check_error(base({{"service", "Web"}}), "service", "Web", "DNS-1123 label");
  check_error(base({{"rollout", "web/x"}}), "rollout", "web/x", "DNS-1123 subdomain");
  check_error(base({{"port", "0"}}), "port", "0", "[1, 65535]");
  check_error(base({{"port", "70000"}}), "port", "70000", "[1, 65535]");
  check_error(base({{"port", "80a"}}), "port", "80a", "integer");
  check_error(base({{"portName", "http-port-too-long"}}), "portName", "http-port-too-long",
              "at most 15");
  check_error(base({{"port", "80"}, {"portName", "http"}}), "portName", "http", "not both");
}

TEST_CASE("scalingMetric is requestRate or concurrency") {
  check_error(base({{"scalingMetric", "rps"}}), "scalingMetric", "rps",
              "must be requestRate or concurrency");
  check_error(base({{"scalingMetric", "RequestRate"}}), "scalingMetric", "RequestRate",
              "must be requestRate or concurrency");
}

TEST_CASE("targetValue: required, a number, > 0, at least 0.001") {
  check_error({{"hosts", "a.com"}}, "targetValue", "", "required");
  check_error(base({{"targetValue", "ten"}}), "targetValue", "ten", "decimal number");
  check_error(base({{"targetValue", "0x10"}}), "targetValue", "0x10", "decimal number");
  check_error(base({{"targetValue", "inf"}}), "targetValue", "inf", "decimal number");
  check_error(base({{"targetValue", "0"}}), "targetValue", "0", "must be > 0");
  check_error(base({{"targetValue", "-3"}}), "targetValue", "-3", "must be > 0");
  check_error(base({{"targetValue", "0.0001"}}), "targetValue", "0.0001", "at least 0.001");
  CHECK(ok(base({{"targetValue", "0.001"}})).target_value == 0.001);
  CHECK(ok(base({{"targetValue", "1e3"}})).target_value == 1000);
}

TEST_CASE("window and granularity rules") {
  check_error(base({{"window", "90"}}), "window", "90", "must be a duration");
  check_error(base({{"window", "1m"}, {"granularity", "50ms"}}), "granularity", "50ms",
              "at least 100ms");
  check_error(base({{"window", "2h"}}), "window", "2h", "at most 1h");
  check_error(base({{"window", "90s"}, {"granularity", "1m"}}), "window", "90s",
              "multiple of the granularity (1m)");
  check_error(base({{"window", "500ms"}}), "window", "500ms", "at least the granularity (1s)");
  check_error(base({{"window", "10m"}, {"granularity", "100ms"}}), "window", "10m",
              "6000 buckets of 100ms, more than 3600");
  check_error(base({{"granularity", "1s5"}}), "granularity", "1s5", "must be a duration");
  check_error(base({{"granularity", "1500us"}, {"window", "3s"}}), "granularity", "1500us",
              "whole number of milliseconds");
  CHECK(ok(base({{"window", "1h"}, {"granularity", "1s"}})).window == 1h);
  CHECK(ok(base({{"window", "6m"}, {"granularity", "100ms"}})).granularity == 100ms);
}

TEST_CASE("activationValue is a number >= 0") {
  check_error(base({{"activationValue", "-1"}}), "activationValue", "-1", ">= 0");
  check_error(base({{"activationValue", "x"}}), "activationValue", "x", "decimal number");
}

TEST_CASE("unknown keys are kept and warned about, with a suggestion for near misses") {
  const TriggerSpec s = ok(base({{"widnow", "5m"}, {"team", "checkout"}}));
  REQUIRE(s.warnings.size() == 2);
  CHECK(s.warnings[0] == "unknown trigger metadata key \"team\" (ignored)");
  CHECK(s.warnings[1] ==
        "unknown trigger metadata key \"widnow\" (ignored; did you mean \"window\"?)");
  CHECK(s.window == 1min);
  CHECK(s.extra.at("team") == "checkout");
  CHECK(ok(base({{"targetvalue", "7"}})).warnings.at(0).find("did you mean \"targetValue\"") !=
        std::string::npos);
}

TEST_CASE("proxyFleet: the chart's trigger for the proxies' own load parses without hosts") {
  // Exactly what charts/lockstep/templates/proxy-scaledobject.yaml sends.
  const TriggerSpec s = ok({{"scalerAddress", "lockstep-scaler.lockstep.svc.cluster.local:9090"},
                            {"proxyFleet", "lockstep/lockstep-proxy"},
                            {"scalingMetric", "concurrency"},
                            {"targetValue", "200"}},
                           "lockstep", "lockstep-proxy");
  CHECK(s.is_fleet());
  CHECK(s.proxy_fleet == "lockstep/lockstep-proxy");
  CHECK(s.metric == ScalingMetric::kConcurrency);
  CHECK(s.target_value == 200);
  CHECK(s.hosts.empty());
  CHECK(s.path_prefixes.empty());
  CHECK(s.metric_name == "lockstep-fleet-concurrency-lockstep-lockstep-proxy");
  CHECK(s.warnings.empty());
  // scalingMetric may be left out: concurrency is the only metric of a fleet.
  const TriggerSpec d = ok({{"proxyFleet", "lockstep/lockstep-proxy"}, {"targetValue", "50.5"},
                            {"activationValue", "1"}});
  CHECK(d.metric == ScalingMetric::kConcurrency);
  CHECK(d.activation_value == 1);
  CHECK_FALSE(ok(base()).is_fleet());
}

TEST_CASE("proxyFleet rules: namespace/name, concurrency only, no route keys") {
  const Metadata fleet = {{"proxyFleet", "lockstep/lockstep-proxy"}, {"targetValue", "200"}};
  auto with = [&](Metadata extra) {
    Metadata m = fleet;
    for (auto& [k, v] : extra) m[k] = v;
    return m;
  };
  check_error(with({{"proxyFleet", "lockstep-proxy"}}), "proxyFleet", "lockstep-proxy",
              "must be \"namespace/name\" of the proxies' Deployment");
  check_error(with({{"proxyFleet", "Lockstep/proxy"}}), "proxyFleet", "Lockstep/proxy",
              "DNS-1123 label");
  check_error(with({{"proxyFleet", ""}}), "proxyFleet", "", "namespace/name");
  check_error(with({{"scalingMetric", "requestRate"}}), "scalingMetric", "requestRate",
              "concurrency");
  check_error(with({{"scalingMetric", "rps"}}), "scalingMetric", "rps",
              "must be requestRate or concurrency");
  for (const char* key : {"hosts", "pathPrefixes", "service", "port", "portName", "rollout",
                          "rolloutAware"}) {
    check_error(with({{key, "x"}}), key, "x", "does not apply with proxyFleet");
  }
  check_error({{"proxyFleet", "lockstep/lockstep-proxy"}}, "targetValue", "", "required");
  check_error(with({{"window", "90s"}, {"granularity", "1m"}}), "window", "90s",
              "multiple of the granularity");
}

TEST_CASE("metric names are lower case, path-safe and short") {
  CHECK(metric_name_for(ScalingMetric::kRequestRate, "shop", "web") ==
        "lockstep-requestrate-shop-web");
  const std::string long_name(200, 'a');
  const std::string n = metric_name_for(ScalingMetric::kConcurrency, "shop", long_name);
  CHECK(n.size() <= kMaxMetricName);
  CHECK(n.rfind("lockstep-concurrency-shop-aaaa", 0) == 0);
  CHECK(n.find('/') == std::string::npos);
  CHECK(n != metric_name_for(ScalingMetric::kConcurrency, "shop", long_name + "b"));
  for (char c : n) CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'));
}

}  // namespace
}  // namespace lockstep::scaler
