// Route-table rebuild time and memory with 5k ScaledObjects / Rollouts (10k Services, 10k
// EndpointSlices), and the watch-event processing rate: in process (parse + apply) and end to
// end over HTTPS from the fake API server. Figures and commands: docs/benchmarks.md.
//
//   build/rollout/test/bench/rollout/route_table_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "rollout/cluster_state.h"
#include "rollout/kube_api_source.h"
#include "rollout/route_authority.h"
#include "rollout/route_resolver.h"
#include "test/support/kube/fake_api_server.h"

using namespace lockstep;
using namespace lockstep::rollout;
using nlohmann::json;

namespace {

Logger quiet() { return Logger(LogLevel::kError, [](std::string_view) {}); }

double rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

std::string ns_of(size_t i) { return "team-" + std::to_string(i % 50); }
std::string app_of(size_t i) { return "app-" + std::to_string(i); }

json scaled_object(size_t i) {
  json so = {{"apiVersion", "keda.sh/v1alpha1"},
             {"kind", "ScaledObject"},
             {"metadata", {{"name", app_of(i)}, {"namespace", ns_of(i)}}},
             {"spec",
              {{"scaleTargetRef",
                {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Rollout"}, {"name", app_of(i)}}},
               {"minReplicaCount", 1},
               {"maxReplicaCount", 100},
               {"triggers",
                {{{"type", "external-push"},
                  {"metadata",
                   {{"scalerAddress", "lockstep-scaler.lockstep-system.svc.cluster.local:9090"},
                    {"hosts", app_of(i) + ".example.com"},
                    {"pathPrefixes", "/"},
                    {"portName", "http"},
                    {"scalingMetric", "requestRate"},
                    {"targetValue", "50"}}}}}}}}};
  if (i % 5 == 0) {  // every fifth app is in a canary with a split annotation
    so["metadata"]["annotations"] = {
        {"lockstep.dev/split", "{\"generation\":3,\"stableService\":\"" + app_of(i) +
                                   "-stable\",\"canaryService\":\"" + app_of(i) +
                                   "-canary\",\"canaryWeight\":20}"}};
  }
  return so;
}

// `canary_weight` >= 0: mid-canary at that weight by status.canary.weights (no annotation).
json rollout(size_t i, int canary_weight = -1) {
  const bool canary = i % 5 == 0 || canary_weight >= 0;
  json status = {{"stableRS", "aaa"}, {"currentPodHash", canary ? "bbb" : "aaa"},
                 {"currentStepIndex", 0}};
  if (canary_weight >= 0) {
    status["canary"] = {
        {"weights",
         {{"canary", {{"weight", canary_weight}, {"serviceName", app_of(i) + "-canary"}}},
          {"stable", {{"weight", 100 - canary_weight}, {"serviceName", app_of(i) + "-stable"}}}}}};
  }
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Rollout"},
          {"metadata", {{"name", app_of(i)}, {"namespace", ns_of(i)}}},
          {"spec",
           {{"replicas", 10},
            {"strategy",
             {{"canary",
               {{"stableService", app_of(i) + "-stable"},
                {"canaryService", app_of(i) + "-canary"},
                {"trafficRouting", {{"plugins", {{"lockstep/http", json::object()}}}}},
                {"steps", {{{"setWeight", 20}}, {{"pause", json::object()}}}}}}}}}},
          {"status", status}};
}

json service(size_t i, const std::string& side) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", app_of(i) + "-" + side}, {"namespace", ns_of(i)}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "http"}}}}}}};
}

json slice(size_t i, const std::string& side, size_t endpoints, size_t generation = 0) {
  json eps = json::array();
  for (size_t e = 0; e < endpoints; ++e) {
    eps.push_back({{"addresses",
                    {"10." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "." +
                     std::to_string(e + 1 + generation % 100)}},
                   {"conditions", {{"ready", true}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", app_of(i) + "-" + side + "-abcde"},
            {"namespace", ns_of(i)},
            {"labels", {{"kubernetes.io/service-name", app_of(i) + "-" + side}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", 8080}}}},
          {"endpoints", eps}};
}

AnyObject typed(const json& j) {
  ParsedObject p = parse_object(j);
  if (!p.object) {
    std::fprintf(stderr, "bad fixture: %s\n", p.error ? p.error->message().c_str() : "?");
    std::abort();
  }
  return std::move(*p.object);
}

// 5k apps: ScaledObject + Rollout + 2 Services + 2 EndpointSlices (8 stable, 2 canary endpoints).
void fill(ClusterState& state, size_t apps) {
  std::vector<AnyObject> sos, ros, svcs, slices;
  for (size_t i = 0; i < apps; ++i) {
    sos.push_back(typed(scaled_object(i)));
    ros.push_back(typed(rollout(i)));
    svcs.push_back(typed(service(i, "stable")));
    svcs.push_back(typed(service(i, "canary")));
    slices.push_back(typed(slice(i, "stable", 8)));
    slices.push_back(typed(slice(i, "canary", 2)));
  }
  state.replace(ObjectKind::kScaledObject, "", std::move(sos), {});
  state.replace(ObjectKind::kRollout, "", std::move(ros), {});
  state.replace(ObjectKind::kService, "", std::move(svcs), {});
  state.replace(ObjectKind::kEndpointSlice, "", std::move(slices), {});
}

RouteAuthority::Options authority_options() {
  RouteAuthority::Options o;
  o.ownership.scaler_hosts = {"lockstep-scaler.lockstep-system"};
  return o;
}

constexpr size_t kApps = 5000;

// The first table: every trigger parsed, every route resolved.
void BM_FirstBuild(benchmark::State& st) {
  const double rss_before = rss_mib();
  ClusterState state(quiet());
  fill(state, kApps);
  std::unique_ptr<RouteAuthority> authority;
  for (auto _ : st) {
    st.PauseTiming();
    authority.reset();
    authority = std::make_unique<RouteAuthority>(state, nullptr, nullptr, authority_options(),
                                                 quiet());
    st.ResumeTiming();
    authority->rebuild();
  }
  st.counters["routes"] = static_cast<double>(authority->table()->routes_size());
  st.counters["rss_mib"] = rss_mib();
  st.counters["rss_delta_mib"] = rss_mib() - rss_before;
}
BENCHMARK(BM_FirstBuild)->Unit(benchmark::kMillisecond)->Iterations(5);

// Steady state: one EndpointSlice changes (a pod becomes ready), the table is rebuilt.
void BM_RebuildAfterEndpointChange(benchmark::State& st) {
  ClusterState state(quiet());
  fill(state, kApps);
  RouteAuthority authority(state, nullptr, nullptr, authority_options(), quiet());
  authority.rebuild();
  size_t n = 0;
  std::vector<size_t> generation(kApps, 0);  // per app, so that every change moves its addresses
  for (auto _ : st) {
    st.PauseTiming();
    const size_t app = (n++ * 7919) % kApps;
    state.upsert(typed(slice(app, "stable", 8, ++generation[app])));
    st.ResumeTiming();
    if (!authority.rebuild()) st.SkipWithError("the version did not change");
  }
  const auto table = authority.table();
  st.counters["routes"] = table->routes_size();
  st.counters["resolved"] = static_cast<double>(authority.last_resolved());
  st.counters["table_bytes"] = static_cast<double>(table->wire.size());
  st.counters["rss_mib"] = rss_mib();
}
BENCHMARK(BM_RebuildAfterEndpointChange)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Steady state: one Rollout's canary weight changes (status.canary.weights; its ScaledObject has
// no split annotation, so the status weights are the split), the table is rebuilt.
void BM_RebuildAfterRolloutWeightChange(benchmark::State& st) {
  ClusterState state(quiet());
  fill(state, kApps);
  RouteAuthority authority(state, nullptr, nullptr, authority_options(), quiet());
  authority.rebuild();
  size_t n = 0;
  for (auto _ : st) {
    st.PauseTiming();
    size_t app = (n * 7919) % kApps;
    if (app % 5 == 0) ++app;  // an app without a split annotation
    ++n;
    state.upsert(typed(rollout(app, static_cast<int>(n % 9 + 1) * 10)));
    st.ResumeTiming();
    if (!authority.rebuild()) st.SkipWithError("the version did not change");
  }
  st.counters["resolved"] = static_cast<double>(authority.last_resolved());
  st.counters["rss_mib"] = rss_mib();
}
BENCHMARK(BM_RebuildAfterRolloutWeightChange)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The full rebuild (what a relist or 410 does): every route resolved again by a warm authority.
void BM_FullRebuild(benchmark::State& st) {
  ClusterState state(quiet());
  fill(state, kApps);
  RouteAuthority authority(state, nullptr, nullptr, authority_options(), quiet());
  authority.rebuild();
  for (auto _ : st) authority.rebuild_full();
  st.counters["resolved"] = static_cast<double>(authority.last_resolved());
  st.counters["rss_mib"] = rss_mib();
}
BENCHMARK(BM_FullRebuild)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The resolver alone (no fingerprints, history or publication).
void BM_ResolveRoutes(benchmark::State& st) {
  ClusterState state(quiet());
  fill(state, kApps);
  TriggerOwnership ownership{{"lockstep-scaler.lockstep-system"}};
  TriggerSpecs specs = state.read([&](const ClusterView& v) {
    return parse_lockstep_triggers(v, ownership, nullptr);
  });
  SplitMemory memory;
  for (auto _ : st) {
    Resolution r = state.read([&](const ClusterView& v) { return resolve_routes(v, specs, memory); });
    benchmark::DoNotOptimize(r.table.version());
  }
}
BENCHMARK(BM_ResolveRoutes)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Watch events in process: parse the event's object into the typed model and apply it.
void BM_WatchEventApply(benchmark::State& st) {
  ClusterState state(quiet());
  fill(state, kApps);
  std::vector<json> events;
  for (size_t i = 0; i < 1000; ++i) events.push_back(slice(i, "stable", 8, i + 1));
  size_t n = 0;
  for (auto _ : st) {
    ParsedObject p = parse_object_as(ObjectKind::kEndpointSlice, events[n++ % events.size()]);
    state.upsert(std::move(*p.object));
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()));
}
BENCHMARK(BM_WatchEventApply)->MinTime(2.0);

// Counts what arrives from the source.
class CountingSink : public ObjectSink {
 public:
  explicit CountingSink(ClusterState& state) : state_(state) {}
  void replace(ObjectKind k, const std::string& s, std::vector<AnyObject> o,
               const std::vector<ObjectKey>& keep) override {
    state_.replace(k, s, std::move(o), keep);
  }
  void upsert(AnyObject o) override {
    state_.upsert(std::move(o));
    events_.fetch_add(1, std::memory_order_relaxed);
  }
  void remove(ObjectKind k, const ObjectKey& key) override { state_.remove(k, key); }
  void invalid(const ObjectError&) override {}
  void watch_event(ObjectKind, std::string_view) override {}
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }

 private:
  ClusterState& state_;
  std::atomic<uint64_t> events_{0};  // relaxed: polled by the benchmark thread
};

// Watch events end to end: the fake API server writes MODIFIED events for EndpointSlices on a
// chunked HTTPS watch; KubeApiSource reads, parses and applies them.
void BM_WatchEventsOverHttps(benchmark::State& st) {
  testing::FakeApiServer api;
  std::string error;
  auto client = kube::KubeClient::create(api.client_config(), {}, error);
  ClusterState state(quiet());
  CountingSink sink(state);
  KubeApiSource::Options o;
  o.reflector.backoff_initial = std::chrono::milliseconds(20);
  KubeApiSource source(*client, o, quiet());
  source.start(sink);
  while (!source.synced() || api.open_watches() < kObjectKinds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  constexpr size_t kEvents = 20'000;
  std::vector<json> objects;
  // 2000 slices, each modified 10 times (every write changes the object, so none is a no-op).
  for (size_t i = 0; i < kEvents; ++i) objects.push_back(slice(i % 2000, "stable", 8, i / 2000 + 1));
  for (auto _ : st) {
    const uint64_t start = sink.events();
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& obj : objects) api.upsert(obj);
    const auto deadline = t0 + std::chrono::seconds(60);
    while (sink.events() < start + kEvents) {
      if (std::chrono::steady_clock::now() > deadline) {
        st.SkipWithError("events did not all arrive within 60 s");
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    st.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kEvents));
  source.stop();
}
BENCHMARK(BM_WatchEventsOverHttps)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// Watch events all the way to the route table: the fake API server holds 5k apps; 20k
// EndpointSlice MODIFIED events arrive over HTTPS while the authority rebuilds on its own thread
// (coalescing the bursts). Time until the table carries the last event's endpoints.
void BM_WatchEventsToTable(benchmark::State& st) {
  testing::FakeApiServer api;
  for (size_t i = 0; i < kApps; ++i) {
    api.upsert(scaled_object(i));
    api.upsert(rollout(i));
    api.upsert(service(i, "stable"));
    api.upsert(service(i, "canary"));
    api.upsert(slice(i, "stable", 8));
    api.upsert(slice(i, "canary", 2));
  }
  std::string error;
  auto client = kube::KubeClient::create(api.client_config(), {}, error);
  ClusterState state(quiet());
  CountingSink sink(state);
  RouteAuthority authority(state, nullptr, nullptr, authority_options(), quiet());
  KubeApiSource::Options o;
  o.reflector.backoff_initial = std::chrono::milliseconds(20);
  KubeApiSource source(*client, o, quiet());
  authority.set_sources_synced([&source] { return source.synced(); });
  const auto sync_start = std::chrono::steady_clock::now();
  authority.start();
  source.start(sink);
  while (!authority.synced() || api.open_watches() < kObjectKinds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double sync_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - sync_start)
                             .count();
  constexpr size_t kEvents = 20'000;
  size_t round = 0;
  for (auto _ : st) {
    ++round;
    std::vector<json> objects;
    for (size_t i = 0; i < kEvents; ++i) {
      objects.push_back(slice(i % kApps, "stable", 8, round * 10 + i / kApps + 1));
    }
    // The last event's first endpoint, as it must show in the table.
    const size_t last = (kEvents - 1) % kApps;
    const std::string want_ip = objects.back()["endpoints"][0]["addresses"][0];
    const std::string want_key = ns_of(last) + "/" + app_of(last);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& obj : objects) api.upsert(obj);
    const auto deadline = t0 + std::chrono::seconds(60);
    for (;;) {
      auto table = authority.table();
      bool done = false;
      for (const auto& entry : table->routes) {
        const v1::Route& r = *entry->route;
        if (r.key() != want_key) continue;
        done = r.backends(0).endpoints_size() > 0 && r.backends(0).endpoints(0).ip() == want_ip;
        break;
      }
      if (done) break;
      if (std::chrono::steady_clock::now() > deadline) {
        st.SkipWithError("the table did not follow within 60 s");
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    st.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kEvents));
  st.counters["initial_sync_ms"] = sync_ms;
  st.counters["builds"] = static_cast<double>(authority.builds());
  st.counters["rss_mib"] = rss_mib();
  source.stop();
  authority.stop();
}
BENCHMARK(BM_WatchEventsToTable)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);

// Peer: kubectl (client-go's watch decoder) consuming the same kind of event stream from the
// same fake API server, one line per event (`-o name`), timed from the first write to the last
// line read. Skipped when kubectl is not installed.
void BM_KubectlWatchPeer(benchmark::State& st) {
  if (std::system("kubectl version --client >/dev/null 2>&1") != 0) {
    st.SkipWithError("kubectl not found");
    return;
  }
  testing::FakeApiServer api;
  char tmpl[] = "/tmp/lockstep-bench-kubectl-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  testing::TestPki::write_file(dir + "/ca.crt", api.pki().ca_pem());
  constexpr size_t kEvents = 20'000;
  for (size_t i = 0; i < 2000; ++i) api.upsert(slice(i, "stable", 8));
  size_t round = 0;
  for (auto _ : st) {
    ++round;
    std::vector<json> objects;
    for (size_t i = 0; i < kEvents; ++i) objects.push_back(slice(i % 2000, "stable", 8, round * 10 + i / 2000 + 1));
    st.PauseTiming();
    const size_t watches = api.open_watches();
    const std::string cmd = "HOME=" + dir + " KUBECONFIG=" + dir + "/none kubectl --server=" +
                            api.url() + " --certificate-authority=" + dir +
                            "/ca.crt --token=test-token --cache-dir=" + dir +
                            "/cache get endpointslices.discovery.k8s.io -A --watch-only -o name";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    while (api.open_watches() <= watches) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    st.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    std::thread writer([&] {
      for (auto& obj : objects) api.upsert(obj);
    });
    size_t lines = 0;
    char buf[512];
    while (lines < kEvents && std::fgets(buf, sizeof buf, pipe)) ++lines;
    const auto t1 = std::chrono::steady_clock::now();
    writer.join();
    if (lines < kEvents) st.SkipWithError("kubectl ended early");
    st.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    st.PauseTiming();
    api.end_watches();
    ::pclose(pipe);
    st.ResumeTiming();
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kEvents));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_KubectlWatchPeer)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
