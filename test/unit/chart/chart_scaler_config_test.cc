// lockstep-scaler's own loader on the scaler.yaml and flags the Helm chart generates, in the order
// main() applies them: the file, then the flags, then the cross-key checks.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/config.h"
#include "rollout/rollout_settings.h"
#include "scaler/scaler_config.h"
#include "test/unit/chart/chart_configs.h"

using lockstep::chart_test::profiles;
using lockstep::chart_test::read_args;
using lockstep::chart_test::read_config;

namespace {

struct Loaded {
  lockstep::scaler::ScalerConfig config;
  lockstep::rollout::RolloutSettings sources;
  std::string error;  // empty when everything was accepted
};

Loaded load(const std::string& yaml, const std::vector<std::string>& args) {
  Loaded out;
  lockstep::ConfigSchema schema;
  // One schema, as lockstep-scaler binds it: its own keys and the object sources' keys.
  lockstep::scaler::bind_config(schema, out.config);
  lockstep::rollout::bind_config(schema, out.sources);
  lockstep::ConfigError error;
  if (!schema.load_yaml(yaml, "scaler.yaml", &error)) {
    out.error = error.message();
    return out;
  }
  std::vector<const char*> argv{"lockstep-scaler"};
  for (const auto& a : args) argv.push_back(a.c_str());
  lockstep::ConfigSchema::FlagResult flags;
  if (!schema.apply_flags(static_cast<int>(argv.size()), argv.data(), &flags, &error)) {
    out.error = error.message();
    return out;
  }
  if (auto bad = lockstep::scaler::validate_config(out.config)) {
    out.error = bad->message();
  } else if (auto bad_sources = lockstep::rollout::validate_config(out.sources)) {
    out.error = bad_sources->message();
  }
  return out;
}

}  // namespace

TEST_CASE("lockstep-scaler accepts the chart's scaler.yaml and flags for every profile") {
  const auto all = profiles();
  REQUIRE(all.size() >= 2);
  for (const auto& profile : all) {
    CAPTURE(profile);
    const auto loaded = load(read_config(profile, "scaler.yaml"), read_args(profile, "scaler"));
    CHECK_MESSAGE(loaded.error.empty(), loaded.error);
    // The chart's wiring: the three container ports.
    CHECK(loaded.config.keda.listen == "0.0.0.0:9090");
    CHECK(loaded.config.ingest.listen == "0.0.0.0:9091");
    CHECK(loaded.config.admin.listen == "0.0.0.0:9092");
    CHECK(loaded.sources.mode == "kubernetes");
    CHECK(loaded.sources.routes.scaler_hosts.find("-scaler.lockstep-system") != std::string::npos);
  }
}

TEST_CASE("the ha profile's config and flags reach the scaler") {
  const auto loaded = load(read_config("ha", "scaler.yaml"), read_args("ha", "scaler"));
  REQUIRE_MESSAGE(loaded.error.empty(), loaded.error);
  CHECK(loaded.config.grpc.max_connection_age == std::chrono::minutes(10));
  CHECK(loaded.config.grpc.max_connection_age_grace == std::chrono::seconds(30));
  CHECK(loaded.config.keda.max_triggers == 200000);
  CHECK(loaded.sources.kubernetes.namespaces == "shop,payments");
  CHECK(loaded.sources.kubernetes.scaled_object_selector == "lockstep.dev/enabled=true");
  CHECK(loaded.sources.routes.scaler_hosts == "edge-scaler.lockstep-system");
}

TEST_CASE("a key the scaler does not know is refused, naming it") {
  const auto loaded = load(read_config("default", "scaler.yaml") + "admn:\n  listen: 0.0.0.0:1\n", {});
  CHECK(loaded.error.find("admn") != std::string::npos);
}
