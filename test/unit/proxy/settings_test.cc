#include "proxy/settings.h"

#include <doctest/doctest.h>

namespace lockstep::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("defaults need only a scaler") {
  auto r = load_settings_from("", {"--scalers=10.0.0.1:9090"});
  REQUIRE(r.errors.empty());
  REQUIRE(r.settings);
  const auto& s = *r.settings;
  CHECK(s.listen == "0.0.0.0:8080");
  CHECK(s.report_interval == milliseconds(250));
  CHECK(s.timeouts.cold_start == seconds(30));
  CHECK(s.limits.max_pending_requests == 100);
  CHECK(s.scalers == std::vector<std::string>{"10.0.0.1:9090"});
  CHECK(s.endpoint_pick == EndpointPick::kLeastOutstandingOfTwo);
}

TEST_CASE("YAML nesting and lists - flags win") {
  const char* yaml = R"(
listen: 127.0.0.1:8081
scalers: [a.scaler:9090, b.scaler:9090]
reportInterval: 100ms
coldStartTimeout: 1m30s
maxPendingRequests: 7
timeouts:
  connect: 500ms
  response: 2s
limits:
  maxHeaderBytes: 16Ki
  maxBodyBytes: 1Gi
endpointPick: roundRobin
trustForwardedHeaders: false
)";
  auto r = load_settings_from(yaml, {"--timeouts.connect=750ms", "--maxPendingRequests=9"});
  REQUIRE(r.errors.empty());
  const auto& s = *r.settings;
  CHECK(s.listen == "127.0.0.1:8081");
  CHECK(s.scalers.size() == 2);
  CHECK(s.report_interval == milliseconds(100));
  CHECK(s.timeouts.cold_start == seconds(90));
  CHECK(s.timeouts.connect == milliseconds(750));
  CHECK(s.timeouts.response == seconds(2));
  CHECK(s.limits.max_pending_requests == 9);
  CHECK(s.limits.max_header_bytes == 16 * 1024);
  CHECK(s.limits.max_body_bytes == 1024ull * 1024 * 1024);
  CHECK(s.endpoint_pick == EndpointPick::kRoundRobin);
  CHECK_FALSE(s.trust_forwarded_headers);
}

TEST_CASE("errors name the key and the reason - nothing is applied") {
  auto r = load_settings_from("timeouts:\n  conect: 1s\nreportInterval: fast\n",
                              {"--scalers=nohostport", "--limits.maxHeaderBytes=10"});
  CHECK_FALSE(r.settings);
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  CHECK(all.find("timeouts.conect: unknown key") != std::string::npos);
  CHECK(all.find("reportInterval: ") != std::string::npos);
  CHECK(all.find("scalers: entry \"nohostport\" is not host:port") != std::string::npos);
  CHECK(all.find("limits.maxHeaderBytes: out of range") != std::string::npos);
}

TEST_CASE("scalers or scalerDns exactly one") {
  auto none = load_settings_from("", {});
  REQUIRE(none.errors.size() == 1);
  CHECK(none.errors[0] == "scalers: one of scalers or scalerDns is required");
  auto both = load_settings_from("", {"--scalers=a:1", "--scalerDns=b:2"});
  REQUIRE(both.errors.size() == 1);
  CHECK(both.errors[0].rfind("scalerDns:", 0) == 0);
}

TEST_CASE("fleet is namespace/name with Kubernetes name rules") {
  auto ok = load_settings_from("fleet: shop/edge-proxy\n", {"--scalers=a:1"});
  REQUIRE(ok.errors.empty());
  CHECK(ok.settings->fleet == "shop/edge-proxy");
  auto unset = load_settings_from("", {"--scalers=a:1"});
  REQUIRE(unset.errors.empty());
  CHECK(unset.settings->fleet.empty());
  auto no_slash = load_settings_from("", {"--scalers=a:1", "--fleet=edge"});
  REQUIRE(no_slash.errors.size() == 1);
  CHECK(no_slash.errors[0] == "fleet: not namespace/name");
  auto bad_ns = load_settings_from("", {"--scalers=a:1", "--fleet=Shop/edge"});
  REQUIRE(bad_ns.errors.size() == 1);
  CHECK(bad_ns.errors[0] == "fleet: namespace \"Shop\" is not a DNS-1123 label");
  auto bad_name = load_settings_from("", {"--scalers=a:1", "--fleet=shop/edge_proxy"});
  REQUIRE(bad_name.errors.size() == 1);
  CHECK(bad_name.errors[0] == "fleet: name \"edge_proxy\" is not a DNS-1123 subdomain");
}

TEST_CASE("malformed YAML is reported as a config error") {
  auto r = load_settings_from("listen: [unclosed\n", {"--scalers=a:1"});
  REQUIRE_FALSE(r.errors.empty());
  CHECK(r.errors[0].rfind("config: YAML error", 0) == 0);
}

TEST_CASE("history granularity must divide a minute") {
  auto r = load_settings_from("", {"--scalers=a:1", "--historyGranularity=7s"});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("historyGranularity:", 0) == 0);
}

}  // namespace
}  // namespace lockstep::proxy
