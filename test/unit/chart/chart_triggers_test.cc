// The chart's own ScaledObject (the proxies scaled on their own concurrency) goes through
// lockstep-scaler's trigger metadata parser, the code KEDA's calls reach: a key name the scaler
// does not accept would make KEDA's GetMetricSpec fail and leave the proxy fleet unscaled.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "scaler/trigger_spec.h"
#include "test/unit/chart/chart_configs.h"

using lockstep::chart_test::profiles;
using lockstep::chart_test::read_config;

TEST_CASE("the chart's proxyFleet trigger is accepted by the scaler for every profile") {
  for (const auto& profile : profiles()) {
    CAPTURE(profile);
    const auto triggers = nlohmann::json::parse(read_config(profile, "triggers.json"));
    REQUIRE(triggers.size() == 1);
    const auto& t = triggers[0];
    CHECK(t["type"] == "external");
    const auto md = t["metadata"].get<std::map<std::string, std::string>>();
    const std::string ns = t["namespace"], name = t["name"];
    const auto parsed = lockstep::scaler::parse_trigger_metadata(ns, name, md);
    REQUIRE_MESSAGE(!parsed.error, (parsed.error ? parsed.error->message() : ""));
    REQUIRE(parsed.spec);
    // The fleet is the proxies' Deployment, which the ScaledObject scales and is named after.
    CHECK(parsed.spec->is_fleet());
    CHECK(parsed.spec->proxy_fleet == ns + "/" + name);
    CHECK(parsed.spec->metric == lockstep::scaler::ScalingMetric::kConcurrency);
    CHECK(parsed.spec->target_value > 0);
  }
}

TEST_CASE("a misspelt proxyFleet key is refused, naming it") {
  const auto t = nlohmann::json::parse(read_config("default", "triggers.json"))[0];
  auto md = t["metadata"].get<std::map<std::string, std::string>>();
  md["proxyfleet"] = md["proxyFleet"];
  md.erase("proxyFleet");
  const auto parsed = lockstep::scaler::parse_trigger_metadata(t["namespace"].get<std::string>(),
                                                               t["name"].get<std::string>(), md);
  // Without proxyFleet it is an app trigger, which needs hosts.
  REQUIRE(parsed.error);
  CHECK(parsed.error->message().find("hosts") != std::string::npos);
}
