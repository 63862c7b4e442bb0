// hashicorp's real go-plugin client (the Go host in host/, built against Debian's go-plugin and
// yamux) drives the static plugin binary as argo-rollouts does; the fake cluster checks the
// side effects.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test/peers/plugin/empty_root.h"
#include "test/peers/plugin/plugin_cluster.h"
#include "test/peers/plugin/subprocess.h"

#ifndef LOCKSTEP_PLUGIN_HOST
#error "LOCKSTEP_PLUGIN_HOST and LOCKSTEP_PLUGIN_BINARY must be defined"
#endif

namespace lockstep::plugin::testing {
namespace {

std::vector<std::string> host_command(const std::string& mode, const PluginCluster& cluster,
                                      std::vector<std::string> extra) {
  std::vector<std::string> argv = {LOCKSTEP_PLUGIN_HOST, mode, "-plugin", LOCKSTEP_PLUGIN_BINARY};
  for (const std::string& a : cluster.plugin_args()) argv.push_back("-plugin-arg=" + a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Every JSON line of the host's output is one check; each must pass.
size_t check_results(const ProcessResult& r) {
  std::istringstream lines(r.out);
  std::string line;
  size_t checks = 0;
  while (std::getline(lines, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("check")) continue;
    ++checks;
    INFO(j["check"].get<std::string>() << ": " << j.value("detail", ""));
    CHECK(j["ok"].get<bool>());
  }
  return checks;
}

TEST_CASE("every Argo method through go-plugin's client, with the fake cluster receiving the patches") {
  PluginCluster cluster;
  const ProcessResult r = run_process(
      host_command("conformance", cluster,
                   {"-plugin-config={\"scaledObjectName\":\"recommender-so\"}", "-expect-verified=1"}),
      cluster.env(), std::chrono::seconds(120));
  CHECK_FALSE(r.timed_out);
  CHECK(check_results(r) >= 20);
  CHECK(r.exit_code == 0);

  // The final state: weight 30 with the preview destination and the canary-header route.
  const auto split = cluster.split();
  REQUIRE(split.has_value());
  CHECK((*split)["stableService"] == "recommender-stable");
  CHECK((*split)["canaryService"] == "recommender-canary");
  CHECK((*split)["canaryWeight"] == 30);
  CHECK((*split)["maxWeight"] == 100);
  CHECK((*split)["rollout"] == "recommender");
  CHECK((*split)["generation"].get<int>() >= 4);
  REQUIRE((*split)["additionalDestinations"].size() == 1);
  CHECK((*split)["additionalDestinations"][0]["serviceName"] == "recommender-preview");
  CHECK((*split)["additionalDestinations"][0]["weight"] == 10);
  REQUIRE((*split)["headerRoutes"].size() == 1);
  CHECK((*split)["headerRoutes"][0]["name"] == "canary-header");
  CHECK((*split)["headerRoutes"][0]["match"][0]["headerName"] == "X-Canary");
  CHECK((*split)["headerRoutes"][0]["match"][0]["exact"] == "yes");

  // Only conditional patches of the annotation: a merge patch guarded by the resourceVersion
  // creates it, then JSON patches whose first op tests the value they replace; and no write
  // when a call changed nothing (the concurrent SetWeights repeat the same split).
  size_t patches = 0;
  for (const auto& req : cluster.api().requests()) {
    if (req.method != "PATCH") continue;
    ++patches;
    INFO(req.body);
    CHECK(req.path == "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/recommender-so");
    CHECK(req.authorization == "Bearer test-token");
    const auto body = nlohmann::json::parse(req.body);
    if (req.content_type == "application/merge-patch+json") {
      CHECK(body["metadata"].contains("resourceVersion"));
      CHECK(body["metadata"]["annotations"].contains("lockstep.dev/split"));
    } else {
      REQUIRE(req.content_type == "application/json-patch+json");
      REQUIRE(body.size() == 2);
      CHECK(body[0]["op"] == "test");
      CHECK(body[0]["path"] == "/metadata/annotations/lockstep.dev~1split");
      CHECK(body[1]["path"] == "/metadata/annotations/lockstep.dev~1split");
    }
  }
  CHECK(patches >= 5);
  CHECK(patches <= 12);
  CHECK(cluster.scalers().calls() >= 2);  // VerifyWeight asked every ready replica
}

TEST_CASE("without a Kubernetes API every writing method fails with an RpcError naming the Rollout") {
  PluginCluster cluster;
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", ""}};
  const ProcessResult r =
      run_process(host_command("conformance", cluster, {"-kube=false", "-expect-verified=0"}), env,
                  std::chrono::seconds(120));
  CHECK_FALSE(r.timed_out);
  CHECK(check_results(r) >= 20);
  CHECK(r.exit_code == 0);
}

TEST_CASE("conformance with the plugin in an empty read-only root as uid 999 (tcp transport)") {
  if (!LOCKSTEP_PLUGIN_STATIC) {
    MESSAGE("skipped: the plugin is linked dynamically in this build (sanitizer presets)");
    return;
  }
  PluginCluster cluster;
  EmptyRoot root(cluster, LOCKSTEP_PLUGIN_BINARY);
  // The controller's environment: service-account files at the standard path, nothing else.
  std::vector<std::string> argv = {LOCKSTEP_PLUGIN_HOST, "conformance", "-plugin", LOCKSTEP_EMPTY_ROOT_SCRIPT};
  for (const std::string& a : {root.root, root.tmp, std::string("--transport=tcp"),
                               std::string("--scaler-namespace=") + PluginCluster::kScalerNamespace,
                               std::string("--log-level=debug")}) {
    argv.push_back("-plugin-arg=" + a);
  }
  argv.push_back("-expect-verified=1");
  const ProcessResult r = run_process(argv, cluster.env(), std::chrono::seconds(120));
  if (r.out.find("exit status 77") != std::string::npos || r.out.empty()) {
    MESSAGE("skipped: no mount namespace for the empty root here");
    return;
  }
  CHECK(check_results(r) >= 20);
  CHECK(r.exit_code == 0);
  REQUIRE(cluster.split());
  CHECK((*cluster.split())["canaryWeight"] == 30);
}

// go-plugin's client.Kill() (Argo's CleanupClients, and its restart after a failed ping): the
// plugin must be gone within Kill's 2 s grace, by itself, every time; over a TCP connection a
// plugin that closed the connection first could reset the host's unread Quit reply.
TEST_CASE("client.Kill() ends the plugin cleanly every time, idle or with calls outstanding") {
  for (const char* transport : {"unix", "tcp"}) {
    CAPTURE(transport);
    PluginCluster cluster(0);
    const ProcessResult r = run_process(
        host_command("quit", cluster, {"-plugin-arg=--transport=" + std::string(transport), "-repeat=20"}),
        cluster.env(), std::chrono::seconds(120));
    CHECK_FALSE(r.timed_out);
    CHECK(check_results(r) == 21);
    CHECK(r.exit_code == 0);
  }
}

// go-plugin always builds its yamux client with the default config (a keepalive every 30 s), so
// the host drives hashicorp's yamux client directly with a 50 ms interval and go-plugin's stream
// layout: 1 s idle (20 intervals, no calls), then 1 s of calls and explicit pings.
TEST_CASE("keepalive: hashicorp's yamux client at a 50ms interval, idle for 20 intervals, then busy") {
  PluginCluster cluster(0);
  const ProcessResult r = run_process(host_command("keepalive", cluster, {"-fast=2s", "-interval=50ms"}),
                                      cluster.env(), std::chrono::seconds(60));
  CHECK(check_results(r) == 1);
  CHECK(r.exit_code == 0);
}

}  // namespace
}  // namespace lockstep::plugin::testing
