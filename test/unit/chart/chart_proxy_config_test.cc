// lockstep-proxy's own loader on the proxy.yaml and flags the Helm chart generates.
#include <doctest/doctest.h>

#include <chrono>

#include "proxy/settings.h"
#include "test/unit/chart/chart_configs.h"

using lockstep::chart_test::profiles;
using lockstep::chart_test::read_args;
using lockstep::chart_test::read_config;

TEST_CASE("lockstep-proxy accepts the chart's proxy.yaml and flags for every profile") {
  const auto all = profiles();
  REQUIRE(all.size() >= 2);
  for (const auto& profile : all) {
    CAPTURE(profile);
    const auto loaded = lockstep::proxy::load_settings_from(read_config(profile, "proxy.yaml"),
                                                            read_args(profile, "proxy"));
    for (const auto& e : loaded.errors) FAIL_CHECK(e);
    REQUIRE(loaded.settings.has_value());
    const auto& s = *loaded.settings;
    // The chart's wiring: the admin container port, the headless scaler Service, a drain window.
    CHECK(s.admin_listen == "0.0.0.0:9102");
    CHECK(s.scalers.empty());
    CHECK(s.scaler_dns.find("-scaler-headless.lockstep-system.svc.cluster.local:9091") != std::string::npos);
    CHECK(s.timeouts.shutdown_delay == std::chrono::seconds(5));
    CHECK(s.timeouts.drain == std::chrono::seconds(30));
  }
}

TEST_CASE("the ha profile's overrides reach the proxy") {
  const auto loaded = lockstep::proxy::load_settings_from(read_config("ha", "proxy.yaml"),
                                                          read_args("ha", "proxy"));
  REQUIRE(loaded.settings.has_value());
  CHECK(loaded.settings->listen == "0.0.0.0:8081");
  CHECK(loaded.settings->log_level == lockstep::LogLevel::kWarn);
  CHECK(loaded.settings->workers == 2);  // CPU limit 1500m, rounded up
}

TEST_CASE("a key the proxy does not know is refused, naming it") {
  // Guards the guard: the loader must reject what the chart could get wrong.
  const auto loaded = lockstep::proxy::load_settings_from(
      read_config("default", "proxy.yaml") + "adminListn: 0.0.0.0:1\n", {});
  REQUIRE_FALSE(loaded.errors.empty());
  CHECK(loaded.errors.front().find("adminListn") != std::string::npos);
}
