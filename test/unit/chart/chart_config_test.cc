// Loads the config files the Helm chart generates (written by chartcheck for each values profile)
// with the programs' own settings loaders, as a pod would at start-up.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/settings.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path << " (run the 'chart: render program configs' tests first)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> profiles() {
  std::vector<std::string> out;
  std::istringstream in(LOCKSTEP_CHART_PROFILES);
  std::string p;
  while (std::getline(in, p, ',')) {
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("lockstep-proxy accepts the chart's proxy.yaml for every profile") {
  const auto all = profiles();
  REQUIRE(all.size() >= 2);
  for (const auto& profile : all) {
    CAPTURE(profile);
    const auto loaded = lockstep::proxy::load_settings_from(
        read_file(std::string(LOCKSTEP_CHART_CONFIGS) + "/" + profile + "/proxy.yaml"), {});
    for (const auto& e : loaded.errors) FAIL_CHECK(e);
    REQUIRE(loaded.settings.has_value());
    const auto& s = *loaded.settings;
    // The chart's wiring: the container ports, the headless scaler Service, a drain window.
    CHECK(s.admin_listen == "0.0.0.0:9102");
    CHECK(s.scalers.empty());
    CHECK(s.scaler_dns.find("-scaler-headless.lockstep-system.svc.cluster.local:9091") != std::string::npos);
    CHECK(s.timeouts.shutdown_delay == std::chrono::seconds(5));
    CHECK(s.timeouts.drain == std::chrono::seconds(30));
  }
}

TEST_CASE("the ha profile's overrides reach the proxy") {
  const auto loaded = lockstep::proxy::load_settings_from(
      read_file(std::string(LOCKSTEP_CHART_CONFIGS) + "/ha/proxy.yaml"), {});
  REQUIRE(loaded.settings.has_value());
  CHECK(loaded.settings->listen == "0.0.0.0:8081");
  CHECK(loaded.settings->log_level == lockstep::LogLevel::kWarn);
  CHECK(loaded.settings->workers == 2);  // CPU limit 1500m, rounded up
}

TEST_CASE("a key the proxy does not know is refused, naming it") {
  // Guards the guard: the loader must reject what the chart could get wrong.
  const auto loaded = lockstep::proxy::load_settings_from(
      read_file(std::string(LOCKSTEP_CHART_CONFIGS) + "/default/proxy.yaml") + "adminListn: 0.0.0.0:1\n", {});
  REQUIRE_FALSE(loaded.errors.empty());
  CHECK(loaded.errors.front().find("adminListn") != std::string::npos);
}
