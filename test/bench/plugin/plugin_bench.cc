// Benchmarks of lockstep-rollouts-plugin, each against a Go plugin written the usual way
// (hashicorp go-plugin's Serve, Argo-shaped RPC server; `lockstep-plugin-host serve-go-plugin`)
// run in the same invocation:
//   - process start to handshake line (spawn until the line is read), N starts each;
//   - round trips through hashicorp's go-plugin client with a Rollout carrying a full pod
//     template: UpdateHash (argument decoding, no I/O) for both plugins, and SetWeight, which
//     for lockstep is end to end (a conditional patch of the annotation on the fake API server,
//     over TLS) and for the Go peer only decoding;
//   - resident memory (VmRSS, VmHWM) of each plugin process after its calls.
// Loopback only; a few seconds in total.
//
//   plugin_bench [--calls=2000] [--starts=30] [--log-level=info]
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "rollout/kube/kube_client.h"
#include "rollout/kube/resource.h"
#include "test/peers/plugin/plugin_cluster.h"
#include "test/peers/plugin/subprocess.h"

#ifndef LOCKSTEP_PLUGIN_HOST
#error "LOCKSTEP_PLUGIN_HOST and LOCKSTEP_PLUGIN_BINARY must be defined"
#endif

namespace lockstep::plugin::testing {
namespace {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

Percentiles summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v.empty() ? 0.0 : v[static_cast<size_t>(q * (v.size() - 1))]; };
  return {at(0.5), at(0.9), at(0.99), v.empty() ? 0.0 : v.back()};
}

// Spawn to handshake line, in milliseconds.
Percentiles time_starts(const std::vector<std::string>& argv, int starts) {
  std::vector<double> ms;
  const std::map<std::string, std::string> env = {{"ARGO_ROLLOUTS_RPC_PLUGIN", "trafficrouter"},
                                                  {"PLUGIN_PROTOCOL_VERSIONS", "1"},
                                                  {"PLUGIN_MIN_PORT", "10000"},
                                                  {"PLUGIN_MAX_PORT", "25000"}};
  for (int i = 0; i < starts; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Child child(argv, env);
    std::string line;
    if (!child.read_line(line, std::chrono::seconds(10))) {
      std::fprintf(stderr, "no handshake line from %s\n", argv[0].c_str());
      break;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }  // the destructor kills the child
  return summarize(ms);
}

// The API floor: the plugin's Kubernetes client sending the same kind of conditional patch to
// the same fake API server directly, no plugin and no go-plugin in between (microseconds).
Percentiles api_floor(PluginCluster& cluster, int calls) {
  std::string error;
  auto client = kube::KubeClient::create(cluster.api().client_config(), {}, error);
  std::vector<double> us;
  if (!client) return {};
  const std::string target = kube::kScaledObjects.path(PluginCluster::kNamespace, PluginCluster::kScaledObject);
  std::string current = "floor-0";
  client->merge_patch(kube::kScaledObjects, PluginCluster::kNamespace, PluginCluster::kScaledObject,
                      {{"metadata", {{"annotations", {{"lockstep.test/floor", current}}}}}});
  for (int i = 1; i <= calls; ++i) {
    const std::string next = "floor-" + std::to_string(i);
    const nlohmann::json ops = {
        {{"op", "test"}, {"path", "/metadata/annotations/lockstep.test~1floor"}, {"value", current}},
        {{"op", "replace"}, {"path", "/metadata/annotations/lockstep.test~1floor"}, {"value", next}}};
    const auto t0 = std::chrono::steady_clock::now();
    const kube::KubeResponse r = client->request(kube::KubeClient::Verb::kPatch, target, ops.dump(),
                                                 "application/json-patch+json");
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok()) break;
    current = next;
  }
  return summarize(us);
}

nlohmann::json host_bench(const std::vector<std::string>& plugin, const std::string& method,
                          int calls, const PluginCluster& cluster) {
  std::vector<std::string> argv = {LOCKSTEP_PLUGIN_HOST, "bench", "-plugin", plugin[0],
                                   "-method", method, "-calls", std::to_string(calls), "-starts", "0",
                                   "-plugin-config", "{\"scaledObjectName\":\"recommender-so\"}"};
  for (size_t i = 1; i < plugin.size(); ++i) argv.push_back("-plugin-arg=" + plugin[i]);
  const ProcessResult r = run_process(argv, cluster.env(), std::chrono::seconds(300));
  // The result is the last line of the output.
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const size_t nl = out.rfind('\n');
  const std::string last = nl == std::string::npos ? out : out.substr(nl + 1);
  nlohmann::json result = nlohmann::json::parse(last, nullptr, false);
  if (r.exit_code != 0 || !result.is_object()) {
    std::fprintf(stderr, "host bench failed for %s %s (exit %d)\n%s\n", plugin[0].c_str(),
                 method.c_str(), r.exit_code, r.out.c_str());
    return nlohmann::json::object();
  }
  return result;
}

void print_row(const char* what, const char* unit, const Percentiles& p) {
  std::printf("  %-44s p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f %s\n", what, p.p50, p.p90,
              p.p99, p.max, unit);
}

Percentiles from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  return {j.value("p50", 0.0), j.value("p90", 0.0), j.value("p99", 0.0), j.value("max", 0.0)};
}

int run(int argc, char** argv) {
  int calls = 2000;
  int starts = 30;
  std::string log_level = "info";  // the plugin's default: one line per annotation write
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--calls=", 8) == 0) calls = std::atoi(argv[i] + 8);
    if (std::strncmp(argv[i], "--starts=", 9) == 0) starts = std::atoi(argv[i] + 9);
    if (std::strncmp(argv[i], "--log-level=", 12) == 0) log_level = argv[i] + 12;
  }
  PluginCluster cluster(0);
  std::vector<std::string> ours = {LOCKSTEP_PLUGIN_BINARY};
  for (const std::string& a : cluster.plugin_args()) {
    ours.push_back(a == "--log-level=debug" ? "--log-level=" + log_level : a);
  }
  const std::vector<std::string> go_peer = {LOCKSTEP_PLUGIN_HOST, "serve-go-plugin"};

  std::printf("lockstep-rollouts-plugin vs a go-plugin Serve() plugin (Go %s), %d starts, %d calls\n",
              "1.19", starts, calls);
  const Percentiles start_ours = time_starts(ours, starts);
  const Percentiles start_go = time_starts(go_peer, starts);
  // The floor on this machine: the same exec and static initialisation, printing one line.
  const Percentiles start_floor = time_starts({LOCKSTEP_PLUGIN_BINARY, "--version"}, starts);
  std::printf("start to handshake line (ms):\n");
  print_row("lockstep-rollouts-plugin", "ms", start_ours);
  print_row("go-plugin peer", "ms", start_go);
  print_row("floor: lockstep-rollouts-plugin --version", "ms", start_floor);

  const nlohmann::json hash_ours = host_bench(ours, "UpdateHash", calls, cluster);
  const nlohmann::json hash_go = host_bench(go_peer, "UpdateHash", calls, cluster);
  const nlohmann::json weight_ours = host_bench(ours, "SetWeight", calls, cluster);
  const nlohmann::json weight_go = host_bench(go_peer, "SetWeight", calls, cluster);
  std::printf("round trip through go-plugin's client, Rollout with a full pod template (%d bytes on the first call) (us):\n",
              hash_ours.value("first_call_arg_bytes", 0));
  const Percentiles ho = from_json(hash_ours["call_us"]);
  const Percentiles hg = from_json(hash_go["call_us"]);
  const Percentiles wo = from_json(weight_ours["call_us"]);
  const Percentiles wg = from_json(weight_go["call_us"]);
  print_row("UpdateHash  lockstep (decode, record)", "us", ho);
  print_row("UpdateHash  go-plugin peer (decode)", "us", hg);
  print_row("SetWeight   lockstep (1 conditional PATCH, TLS)", "us", wo);
  print_row("SetWeight   go-plugin peer (decode, no I/O)", "us", wg);
  print_row("floor: the same PATCH sent directly (no plugin)", "us", api_floor(cluster, calls));
  std::printf("resident memory after the calls (KiB):\n");
  std::printf("  %-44s VmRSS %6d  VmHWM %6d\n", "lockstep-rollouts-plugin (SetWeight run)",
              weight_ours.value("rss_kib", -1), weight_ours.value("hwm_kib", -1));
  std::printf("  %-44s VmRSS %6d  VmHWM %6d\n", "go-plugin peer (SetWeight run)",
              weight_go.value("rss_kib", -1), weight_go.value("hwm_kib", -1));
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("ratios lockstep / go-plugin peer: start p50 %.2f, UpdateHash p50 %.2f p99 %.2f, "
              "RSS %.2f\n",
              ratio(start_ours.p50, start_go.p50), ratio(ho.p50, hg.p50), ratio(ho.p99, hg.p99),
              ratio(weight_ours.value("rss_kib", 0), weight_go.value("rss_kib", 0)));
  nlohmann::json all = {{"start_ms", {{"lockstep", start_ours.p50}, {"go", start_go.p50}}},
                        {"update_hash", {{"lockstep", hash_ours}, {"go", hash_go}}},
                        {"set_weight", {{"lockstep", weight_ours}, {"go", weight_go}}}};
  std::printf("%s\n", all.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace lockstep::plugin::testing

int main(int argc, char** argv) { return lockstep::plugin::testing::run(argc, argv); }
