#include "demo/demo_run.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "demo/argo_controller.h"
#include "demo/child_process.h"
#include "demo/http_get.h"
#include "demo/journal.h"
#include "demo/keda_operator.h"
#include "demo/manifest_store.h"
#include "demo/pod_fleet.h"
#include "demo/timeline.h"

namespace lockstep::demo {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

DemoProfile full_profile() { return DemoProfile{}; }

DemoProfile quick_profile() {
  DemoProfile p;
  p.name = "quick";
  // Rates off the multiples of the target, so that the window's +-0.5% noise never flips a
  // ceil(): 350 -> 4 replicas, 950 -> 10.
  p.base_rps = 350;
  p.spike_rps = 950;
  p.trickle_rps = 10;
  p.quiet_start = 1000ms;
  p.settle_hold = 1000ms;
  p.spike_hold = 1000ms;
  p.step_pause = 3000ms;
  p.final_hold = 2500ms;
  p.backend_start_delay = 400ms;
  p.drain_delay = 500ms;
  p.hpa_sync_period = 500ms;
  p.settle_timeout = 30'000ms;
  p.zero_timeout = 30'000ms;
  // A 4 s window follows the traffic faster; the target keeps replica counts small.
  p.trigger_overrides = {{"targetValue", "100"}, {"window", "4s"}, {"granularity", "250ms"}};
  p.spec_overrides = {{"cooldownPeriod", "2"}, {"stabilizationWindowSeconds", "2"},
                      {"maxReplicaCount", "14"}};
  return p;
}

double StepResult::canary_share() const {
  const double served = static_cast<double>(counts.ok[0] + counts.ok[1]);
  return served > 0 ? 100.0 * static_cast<double>(counts.ok[1]) / served : 0;
}

bool DemoResult::all_ok() const {
  if (!error.empty()) return false;
  bool any = false;
  for (const auto& c : checks) {
    if (c.skipped) continue;
    if (!c.ok) return false;
    any = true;
  }
  return any;
}

namespace {

std::string fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string tail_of(const std::string& file, size_t lines) {
  LogTail tail(file);
  auto all = tail.new_lines();
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "    " + all[i] + "\n";
  return out;
}

}  // namespace

std::vector<Check> evaluate_checks(const DemoResult& r, const DemoProfile& profile) {
  std::vector<Check> checks;
  auto add = [&](std::string name, bool ok, std::string detail) {
    checks.push_back({std::move(name), ok, false, std::move(detail)});
  };
  // A run stopped early (--duration, Ctrl-C) is judged on the phases it finished.
  auto skip_unless = [&](bool reached, const std::string& name) {
    if (r.completed || reached) return false;
    checks.push_back({name, false, true, "not reached: the run was stopped early (" + r.stop_reason + ")"});
    return true;
  };
  for (size_t i = 0; i < r.cold_starts.size(); ++i) {
    const auto& c = r.cold_starts[i];
    const std::string which = i == 0 ? "first request from zero" : "first request after scale-to-zero";
    add(which + ": served", c.served,
        c.served ? "200 from " + c.version + " after " + fixed(c.served_ms, 0) + " ms"
                 : "status " + std::to_string(c.status) + " " + c.error);
    add(which + ": activation within 10 ms", c.activation_ms >= 0 && c.activation_ms <= 10,
        c.activation_ms < 0 ? "no StreamIsActive true received"
                            : "StreamIsActive true " + fixed(c.activation_ms, 2) +
                                  " ms after the request was sent (upper bound of proxy hold -> KEDA)");
  }
  for (const auto& s : r.steps) {
    const double want = 100.0 * s.weight / s.max_weight;
    const double got = s.canary_share();
    const uint64_t n = s.counts.ok[0] + s.counts.ok[1];
    add(s.label + ": canary share within 2% of the weight",
        s.verified && n >= 100 && std::abs(got - want) <= 2.0,
        fixed(got, 2) + "% of " + std::to_string(n) + " requests went to the canary (weight " + fixed(want, 0) +
            "%), verified " + fixed(s.verify_ms, 0) + " ms after SetWeight");
  }
  auto follows = [&](const char* name, const ScalePoint& p, bool reached) {
    if (skip_unless(reached, std::string(name) + ": replicas follow the request rate")) return;
    add(std::string(name) + ": replicas follow the request rate", p.follows,
        fixed(p.rate, 0) + " req/s, target " + fixed(p.target, 0) + " -> ceil = " + std::to_string(p.expected) +
            ", desired " + std::to_string(p.desired) + ", running " + std::to_string(p.running) +
            (p.settled ? "" : " (did not settle in time)"));
  };
  follows("steady traffic", r.base, r.reached.base);
  follows("spike", r.spike, r.reached.spike);
  follows("after the spike", r.after_spike, r.reached.after_spike);
  if (r.steps.empty()) skip_unless(false, "canary steps: canary share within 2% of the weight");
  if (!skip_unless(r.reached.abort, "abort returns 100% to stable")) {
    const auto& a = r.after_abort;
    const uint64_t n = a.counts.served();
    add("abort returns 100% to stable", a.verified && n >= 100 && a.counts.ok[1] == 0,
        std::to_string(a.counts.ok[0]) + " v1 / " + std::to_string(a.counts.ok[1]) + " v2 responses after the abort was verified");
  }
  if (!skip_unless(r.reached.promotion, "promotion sends 100% to the new version")) {
    const auto& p = r.after_promotion;
    const uint64_t n = p.counts.served();
    add("promotion sends 100% to the new version", p.verified && n >= 100 && p.counts.ok[0] == 0,
        std::to_string(p.counts.ok[0]) + " v1 / " + std::to_string(p.counts.ok[1]) + " v2 responses after promotion");
  }
  if (!skip_unless(r.reached.zero, "scaled to zero when the traffic stopped")) {
    add("scaled to zero when the traffic stopped", r.scaled_to_zero,
        r.scaled_to_zero ? fixed(r.scale_to_zero_s, 1) + " s after the last request" : "replicas stayed above zero");
  }
  const auto& t = r.totals;
  add("every request answered (none lost)", t.outstanding == 0 && t.dropped == 0 && t.counts.failures == 0,
      std::to_string(t.issued) + " sent, " + std::to_string(t.counts.served()) + " served, " +
          std::to_string(t.counts.failures) + " connection failures, " + std::to_string(t.outstanding) +
          " unanswered, " + std::to_string(t.dropped) + " dropped by the generator (" + std::to_string(t.late) +
          " sent late: the generator was starved of CPU)");
  add("no error responses", t.counts.http_errors == 0,
      std::to_string(t.counts.http_errors) + " non-2xx responses");
  (void)profile;
  return checks;
}

std::string format_summary(const DemoResult& r) {
  std::ostringstream out;
  out << "\n== lockstep demo summary ==\n";
  if (!r.error.empty()) out << "error: " << r.error << "\n";
  out << "run: " << fixed(r.seconds, 1) << " s" << (r.completed ? "" : " (stopped early: " + r.stop_reason + ")")
      << ", logs and timeline in " << r.run_dir << "\n";
  const auto& t = r.totals;
  out << "traffic: " << t.issued << " requests, " << t.counts.ok[0] << " v1, " << t.counts.ok[1] << " v2, "
      << t.counts.http_errors << " error responses, " << t.counts.failures << " failures, " << t.late
      << " sent late; latency p50 "
      << fixed(t.p50_ms, 2) << " ms, p99 " << fixed(t.p99_ms, 2) << " ms, max " << fixed(t.max_ms, 0)
      << " ms (includes held cold starts)\n";
  out << "pods: " << r.pods_started << " backend processes started, " << r.pods_failed << " failed\n";
  for (const auto& c : r.cold_starts) {
    out << "cold start: activation " << fixed(c.activation_ms, 2) << " ms after the request was sent (proxy hold -> "
        << "report " << fixed(c.proxy_report_ms, 2) << " ms, scaler report -> true " << fixed(c.scaler_activation_ms, 2)
        << " ms); served by " << (c.version.empty() ? "-" : c.version) << " after " << fixed(c.served_ms, 0)
        << " ms (status " << c.status << ")\n";
  }
  auto scale = [&](const char* name, const ScalePoint& p) {
    out << name << ": " << fixed(p.rate, 0) << " req/s, metric " << fixed(p.metric, 1) << " / target "
        << fixed(p.target, 0) << " -> desired " << p.desired << ", running " << p.running << "\n";
  };
  const bool all = r.completed;  // a run stopped early shows only the phases it finished
  if (all || r.reached.base) scale("steady", r.base);
  if (all || r.reached.spike) scale("spike", r.spike);
  if (all || r.reached.after_spike) scale("after spike", r.after_spike);
  for (const auto& s : r.steps) {
    out << s.label << ": weight " << s.weight << "%, canary share " << fixed(s.canary_share(), 2) << "% of "
        << (s.counts.ok[0] + s.counts.ok[1]) << " requests over " << fixed(s.seconds, 1) << " s, verified in "
        << fixed(s.verify_ms, 0) << " ms\n";
  }
  if (all || r.reached.abort) {
    out << "after abort: " << r.after_abort.counts.ok[0] << " v1 / " << r.after_abort.counts.ok[1] << " v2\n";
  }
  if (all || r.reached.promotion) {
    out << "after promotion: " << r.after_promotion.counts.ok[0] << " v1 / " << r.after_promotion.counts.ok[1]
        << " v2\n";
  }
  if (r.scaled_to_zero) out << "scale to zero: " << fixed(r.scale_to_zero_s, 1) << " s after the traffic stopped\n";
  if (!r.picture.empty()) out << "timeline: " << r.picture << "\n";
  out << "checks:\n";
  for (const auto& c : r.checks) {
    out << "  [" << (c.skipped ? "skip" : c.ok ? " ok " : "FAIL") << "] " << c.name << ": " << c.detail << "\n";
  }
  return out.str();
}

struct DemoRun::Impl {
  explicit Impl(DemoOptions o) : options(std::move(o)) {}

  DemoOptions options;
  SteadyClock::time_point t0 = SteadyClock::now();
  std::unique_ptr<Journal> journal;
  ManifestStore store;
  ChildProcess scaler, proxy;
  DemoPorts ports;
  std::unique_ptr<PodFleet> fleet;
  std::unique_ptr<ArgoController> argo;
  std::unique_ptr<KedaOperator> keda;
  std::unique_ptr<LoadGenerator> load;
  double target = 0;
  std::string host;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;     // guarded by mu
  std::string stop_reason;   // guarded by mu
  std::string phase = "starting";  // guarded by mu
  std::vector<TimelineRow> rows;   // guarded by mu
  std::vector<TimelineMark> marks;  // guarded by mu
  std::optional<ColdStart> last_cold_start;  // guarded by mu
  bool view_done = false;  // guarded by mu
  std::thread view_thread;
  DemoResult result;

  std::string dir(const std::string& name) const { return (fs::path(options.run_dir) / name).string(); }

  bool stopped() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }
  // Waits `d` unless the run is stopped; false when stopped.
  bool hold(milliseconds d) {
    std::unique_lock<std::mutex> lock(mu);
    return !cv.wait_for(lock, d, [this] { return stopping; });
  }
  // Polls `pred` until it holds, the timeout passes or the run stops.
  bool wait_for(const std::function<bool()>& pred, milliseconds timeout, milliseconds every = 50ms) {
    const auto deadline = SteadyClock::now() + timeout;
    while (true) {
      if (pred()) return true;
      if (SteadyClock::now() >= deadline) return false;
      if (!hold(every)) return false;
    }
  }
  void set_phase(const std::string& p) {
    {
      std::lock_guard<std::mutex> lock(mu);
      phase = p;
      marks.push_back({std::chrono::duration<double>(SteadyClock::now() - t0).count(), p});
    }
    journal->add("demo", "phase: " + p);
  }

  bool start_components(std::string* error);
  void scenario();
  void teardown();
  void view_loop();
  std::string render_view(bool live);
  ColdStart cold_start();
  ScalePoint settle_at(double rps, const std::string& name);
  bool wait_cold();
  StepResult measure(const std::string& label, int32_t weight, const ArgoController::WeightChange& change,
                     SteadyClock::time_point until);
  bool run_canary(const std::string& label, bool abort_run);
};

bool DemoRun::Impl::start_components(std::string* error) {
  fs::create_directories(dir("logs/pods"));
  journal = std::make_unique<Journal>(t0, dir("events.log"));
  if (!store.prepare(options.manifests_dir, dir("manifests"), options.profile.trigger_overrides,
                     options.profile.spec_overrides, error)) {
    return false;
  }
  const auto& so = store.scaled_object();
  for (const auto& t : so.triggers) {
    if (t.type != "external-push") continue;
    auto it = t.metadata.find("targetValue");
    if (it != t.metadata.end()) target = std::strtod(it->second.c_str(), nullptr);
    auto h = t.metadata.find("hosts");
    if (h != t.metadata.end()) host = h->second.substr(0, h->second.find(','));
  }
  if (target <= 0 || host.empty() || host[0] == '*') {
    *error = "the ScaledObject needs an external-push trigger with targetValue and an exact first host";
    return false;
  }

  // lockstep-scaler, standalone mode, every port chosen by the kernel (it logs them).
  ChildProcess::Options so_opts;
  so_opts.program = options.scaler_bin;
  so_opts.args = {"--config=" + options.scaler_config, "--source.mode=standalone",
                  "--manifests.paths=" + dir("manifests"), "--keda.listen=127.0.0.1:0",
                  "--ingest.listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0"};
  so_opts.log_file = dir("logs/scaler.log");
  if (!scaler.start(so_opts, error)) return false;
  LogTail scaler_log(so_opts.log_file);
  const bool serving = wait_for(
      [&] {
        for (const auto& line : scaler_log.new_lines()) {
          if (line.find("lockstep-scaler serving") == std::string::npos) continue;
          const auto j = nlohmann::json::parse(line, nullptr, false);
          if (j.is_discarded()) continue;
          auto port = [&](const char* key) {
            return static_cast<uint16_t>(std::atoi(j.value(key, std::string("0")).c_str()));
          };
          ports.scaler_keda = port("keda_port");
          ports.scaler_ingest = port("ingest_port");
          ports.scaler_admin = port("admin_port");
          return true;
        }
        return !scaler.running();
      },
      20s, 20ms);
  if (!serving || ports.scaler_keda == 0 || ports.scaler_admin == 0) {
    *error = "lockstep-scaler did not start (" + so_opts.log_file + "):\n" + tail_of(so_opts.log_file, 15);
    return false;
  }

  // lockstep-proxy: its ports are probed here (it does not report port 0 back); one retry.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ports.proxy_http = free_loopback_port();
    ports.proxy_admin = free_loopback_port();
    ChildProcess::Options px;
    px.program = options.proxy_bin;
    px.args = {"--config=" + options.proxy_config, "--listen=127.0.0.1:" + std::to_string(ports.proxy_http),
               "--adminListen=127.0.0.1:" + std::to_string(ports.proxy_admin),
               "--scalers=127.0.0.1:" + std::to_string(ports.scaler_ingest), "--proxyId=demo-proxy-0"};
    px.log_file = dir("logs/proxy.log");
    if (!proxy.start(px, error)) return false;
    // Ready once it has applied a route table from the scaler.
    const bool ready = wait_for([&] { return !proxy.running() || http_get(ports.proxy_admin, "/readyz", 500ms).ok(); },
                                20s, 20ms);
    if (ready && proxy.running()) break;
    proxy.terminate();
    if (attempt == 1) {
      *error = "lockstep-proxy did not become ready (" + px.log_file + "):\n" + tail_of(px.log_file, 15);
      return false;
    }
  }
  journal->add("demo", "scaler: KEDA :" + std::to_string(ports.scaler_keda) + ", ingest/routes :" +
                           std::to_string(ports.scaler_ingest) + ", admin :" + std::to_string(ports.scaler_admin) +
                           "; proxy: http :" + std::to_string(ports.proxy_http) + ", admin :" +
                           std::to_string(ports.proxy_admin));
  if (options.after_start) options.after_start(ports);

  // The cluster: kubelet + ReplicaSets, Argo (+ the plugin), KEDA + HPA.
  PodFleet::Options fo;
  fo.backend_program = options.backend_bin;
  fo.app = store.rollout().name;
  fo.log_dir = dir("logs/pods");
  fo.start_delay = options.profile.backend_start_delay;
  fo.drain_delay = options.profile.drain_delay;
  fleet = std::make_unique<PodFleet>(fo, [this] {
    if (argo) argo->on_pods_changed();
  });
  ArgoController::Options ao;
  ao.rollout = store.rollout();
  ao.scaled_object = so.name;
  ao.scaler_admin_port = ports.scaler_admin;
  argo = std::make_unique<ArgoController>(ao, store, *fleet, *journal);
  argo->start();
  fleet->start();

  // The scaler must know the route before KEDA and the traffic arrive.
  const std::string route = "/v1/routes/" + so.ns + "/" + so.name;
  if (!wait_for([&] { return http_get(ports.scaler_admin, route, 1s).status == 200; }, 20s)) {
    *error = "the scaler never reported route " + so.ns + "/" + so.name + " (" + dir("logs/scaler.log") + "):\n" +
             http_get(ports.scaler_admin, route, 1s).body;
    return false;
  }
  KedaOperator::Options ko;
  ko.scaler_address = "127.0.0.1:" + std::to_string(ports.scaler_keda);
  ko.scaled_object = so;
  ko.hpa_sync_period = options.profile.hpa_sync_period;
  keda = std::make_unique<KedaOperator>(
      ko,
      KedaOperator::ScaleTarget{[this] { return argo->spec_replicas(); }, [this] { return argo->status_replicas(); },
                                [this](int32_t n) { argo->set_spec_replicas(n); }},
      *journal);
  if (!keda->start(error)) return false;

  LoadGenerator::Options lo;
  lo.port = ports.proxy_http;
  lo.host = host;
  lo.t0 = t0;
  load = std::make_unique<LoadGenerator>(lo);
  load->start();
  return true;
}

ColdStart DemoRun::Impl::cold_start() {
  ColdStart c;
  c.replicas_before = argo->spec_replicas();
  // The two legs that lockstep measures itself (histogram sums/counts before and after): the
  // proxy's hold -> urgent report sent, and the scaler's held report received -> `true` sent.
  auto legs = [this] {
    const MetricsText p = parse_metrics_text(http_get(ports.proxy_admin, "/metrics", 1s).body);
    const MetricsText s = parse_metrics_text(http_get(ports.scaler_admin, "/metrics", 1s).body);
    return std::array<double, 4>{p.sum("lockstep_proxy_urgent_report_delay_seconds_sum"),
                                 p.sum("lockstep_proxy_urgent_report_delay_seconds_count"),
                                 s.sum("lockstep_scaler_activation_latency_seconds_sum"),
                                 s.sum("lockstep_scaler_activation_latency_seconds_count")};
  };
  const auto before = legs();
  auto future = load->probe();
  // A few more requests arrive while the first replica starts; they are held too.
  load->set_rate(options.profile.trickle_rps);
  const bool answered = future.wait_for(60s) == std::future_status::ready;
  if (!answered) {
    c.error = "no answer within 60 s";
    return c;
  }
  const ProbeResult p = future.get();
  c.status = p.status;
  c.version = p.version;
  c.error = p.error;
  c.served = p.status == 200 && (p.version == "v1" || p.version == "v2");
  c.served_ms = std::chrono::duration<double, std::milli>(p.answered - p.sent).count();
  if (auto at = keda->wait_activation(p.sent, 1s)) {
    c.activation_ms = std::chrono::duration<double, std::milli>(*at - p.sent).count();
  }
  const auto after = legs();
  if (after[1] - before[1] >= 1) c.proxy_report_ms = 1000 * (after[0] - before[0]) / (after[1] - before[1]);
  if (after[3] - before[3] >= 1) c.scaler_activation_ms = 1000 * (after[2] - before[2]) / (after[3] - before[3]);
  journal->add("load", "first request: " + std::to_string(c.status) + " from " + (c.version.empty() ? "-" : c.version) +
                           " after " + fixed(c.served_ms, 0) + " ms; KEDA activation " + fixed(c.activation_ms, 2) +
                           " ms after it was sent");
  {
    std::lock_guard<std::mutex> lock(mu);
    last_cold_start = c;
  }
  return c;
}

// The replica count the HPA keeps for `rate`: ceil(rate / target), or any count within the
// 10% tolerance of it.
static bool hpa_would_keep(double rate, double target, int32_t replicas) {
  if (replicas <= 0 || target <= 0) return false;
  if (replicas == static_cast<int32_t>(std::ceil(rate / target - 1e-9))) return true;
  return std::abs(1.0 - rate / (target * replicas)) <= 0.1;
}

ScalePoint DemoRun::Impl::settle_at(double rps, const std::string& name) {
  ScalePoint p;
  p.target = target;
  const int32_t max = store.scaled_object().max_replicas;
  // Settled: the scaler's metric has caught up with the traffic (its window is full), the HPA's
  // last recommendation is what is set, and every desired replica is ready.
  p.settled = wait_for(
      [&] {
        const auto kv = keda->view();
        const auto v = argo->view();
        return std::abs(kv.metric - rps) <= 0.015 * rps && kv.hpa_recommendation == v.spec_replicas &&
               v.stable_ready + v.canary_ready == v.spec_replicas && v.starting == 0;
      },
      options.profile.settle_timeout);
  journal->add("demo", name + (p.settled ? ": replicas settled" : ": replicas did not settle in time"));
  const auto now = SteadyClock::now();
  // The request rate: requests sent (by their scheduled time) over the last full seconds.
  const TrafficCounts c = load->sent_between(now - 3s, now - 1s);
  p.rate = static_cast<double>(c.total()) / 2.0;
  p.expected = std::min(static_cast<int32_t>(std::ceil(p.rate / target - 1e-9)), max);
  p.metric = keda->view().metric;
  const auto v = argo->view();
  p.desired = v.spec_replicas;
  p.running = v.stable_ready + v.canary_ready;
  p.follows = p.settled && p.running == p.desired &&
              (hpa_would_keep(p.rate, target, p.desired) || (p.desired == max && p.expected >= max));
  return p;
}

bool DemoRun::Impl::wait_cold() {
  // Scaled to zero for real: no backend process left, the scaler's route has no endpoint, and
  // the proxy applies the scaler's current route table (so a request is held, not served by a
  // pod that is still draining).
  const auto& so = store.scaled_object();
  const std::string route = "/v1/routes/" + so.ns + "/" + so.name;
  return wait_for(
      [&] {
        if (!fleet->pods().empty()) return false;
        const auto status = nlohmann::json::parse(http_get(ports.scaler_admin, route, 1s).body, nullptr, false);
        if (status.is_discarded() || !status.contains("backends")) return false;
        for (const auto& b : status["backends"]) {
          if (b.value("endpoints", 1) != 0) return false;
        }
        const auto scaler_metrics = http_get(ports.scaler_admin, "/metrics", 1s);
        const auto proxy_metrics = http_get(ports.proxy_admin, "/metrics", 1s);
        if (!scaler_metrics.ok() || !proxy_metrics.ok()) return false;
        const double a = parse_metrics_text(scaler_metrics.body).sum("lockstep_scaler_route_table_version");
        const double b = parse_metrics_text(proxy_metrics.body).sum("lockstep_proxy_route_table_version");
        return a != 0 && a == b;
      },
      15s, 50ms);
}

StepResult DemoRun::Impl::measure(const std::string& label, int32_t weight,
                                  const ArgoController::WeightChange& change, SteadyClock::time_point until) {
  StepResult s;
  s.label = label;
  s.weight = weight;
  s.max_weight = store.rollout().max_weight;
  s.verified = change.ok;
  if (!change.ok) return s;
  s.verify_ms = std::chrono::duration<double, std::milli>(change.verified - change.written).count();
  // Requests sent after every proxy applied the split; whole 100 ms slots, the first one skipped.
  const auto from = change.verified + 100ms;
  s.counts = load->sent_between(from, until);
  s.seconds = std::chrono::duration<double>(until - from).count();
  return s;
}

bool DemoRun::Impl::run_canary(const std::string& label, bool abort_run) {
  const auto& steps = store.rollout().steps;
  ArgoController::WeightChange current;
  int32_t weight = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (stopped()) return false;
    const auto& step = steps[i];
    if (step.set_weight) {
      weight = *step.set_weight;
      set_phase(label + ": setWeight " + std::to_string(weight));
      current = argo->set_weight(weight, static_cast<int32_t>(i));
    } else if (step.pause_step) {
      const milliseconds pause = options.profile.step_pause.count() > 0 ? options.profile.step_pause
                                                                         : step.pause.value_or(milliseconds(10'000));
      argo->set_step(static_cast<int32_t>(i), "setWeight " + std::to_string(weight) + ": paused");
      if (!hold(pause)) return false;
      result.steps.push_back(measure(label + ": setWeight " + std::to_string(weight), weight, current, SteadyClock::now()));
      if (abort_run && weight == options.profile.abort_at_weight) {
        set_phase(label + ": abort");
        const auto change = argo->abort();
        if (!hold(options.profile.final_hold)) return false;
        result.after_abort = measure(label + ": after abort", 0, change, SteadyClock::now());
        result.reached.abort = true;
        return true;
      }
    }
  }
  if (abort_run) return true;
  set_phase(label + ": promote");
  const auto change = argo->promote();
  if (!hold(options.profile.final_hold)) return false;
  result.after_promotion = measure(label + ": after promotion", 100, change, SteadyClock::now());
  result.reached.promotion = true;
  return true;
}

void DemoRun::Impl::scenario() {
  const auto& p = options.profile;
  set_phase("idle at zero");
  if (!hold(p.quiet_start)) return;

  set_phase("first request (scale from zero)");
  if (!wait_cold()) journal->add("demo", "the route still has endpoints: not a cold start");
  result.cold_starts.push_back(cold_start());
  if (stopped()) return;

  set_phase("steady " + fixed(p.base_rps, 0) + " req/s");
  load->set_rate(p.base_rps);
  result.base = settle_at(p.base_rps, "steady traffic");
  result.reached.base = !stopped();
  if (!hold(p.settle_hold)) return;

  set_phase("spike " + fixed(p.spike_rps, 0) + " req/s");
  load->set_rate(p.spike_rps);
  result.spike = settle_at(p.spike_rps, "spike");
  result.reached.spike = !stopped();
  if (!hold(p.spike_hold)) return;

  set_phase("back to " + fixed(p.base_rps, 0) + " req/s");
  load->set_rate(p.base_rps);
  result.after_spike = settle_at(p.base_rps, "after the spike");
  if (stopped()) return;
  result.reached.after_spike = true;

  argo->begin_canary("v2");
  if (!run_canary("canary 1", true)) return;
  argo->retry();
  if (!run_canary("canary 2", false)) return;

  set_phase("quiet (traffic stops)");
  load->set_rate(0);
  const auto quiet_at = SteadyClock::now();
  result.scaled_to_zero = wait_for([&] { return argo->spec_replicas() == 0 && argo->status_replicas() == 0; },
                                   p.zero_timeout, 100ms);
  result.reached.zero = result.scaled_to_zero || !stopped();
  if (result.scaled_to_zero) {
    result.scale_to_zero_s = std::chrono::duration<double>(SteadyClock::now() - quiet_at).count();
  }
  if (stopped()) return;
  set_phase("first request after scale-to-zero");
  if (!wait_cold()) journal->add("demo", "the route still has endpoints: not a cold start");
  result.cold_starts.push_back(cold_start());
  load->set_rate(0);
  if (!hold(1500ms)) return;
  {
    std::lock_guard<std::mutex> lock(mu);
    phase = "done";
  }
  result.completed = true;
}

std::string DemoRun::Impl::render_view(bool live) {
  const auto now = SteadyClock::now();
  const double t = std::chrono::duration<double>(now - t0).count();
  const TrafficCounts last = load ? load->answered_between(now - 1100ms, now - 100ms) : TrafficCounts{};
  const TrafficCounts sent = load ? load->sent_between(now - 1600ms, now - 600ms) : TrafficCounts{};
  const double observed = sent.ok[0] + sent.ok[1] > 0 ? 100.0 * sent.ok[1] / (sent.ok[0] + sent.ok[1]) : 0;
  const auto kv = keda ? keda->view() : KedaOperator::View{};
  const auto av = argo ? argo->view() : ArgoController::View{};
  double held = 0;
  if (ports.proxy_admin != 0) {
    const auto m = http_get(ports.proxy_admin, "/metrics", 300ms);
    if (m.ok()) held = parse_metrics_text(m.body).sum("lockstep_proxy_held_requests");
  }
  std::string phase_now;
  std::optional<ColdStart> cs;
  {
    std::lock_guard<std::mutex> lock(mu);
    phase_now = phase;
    cs = last_cold_start;
    TimelineRow row;
    row.t = t;
    row.rps_v1 = static_cast<double>(last.ok[0]);
    row.rps_v2 = static_cast<double>(last.ok[1]);
    row.errors = static_cast<double>(last.http_errors + last.failures);
    row.weight = av.canary_weight;
    row.metric = kv.metric;
    row.desired = av.spec_replicas;
    // Ready pods by version (the stable ReplicaSet's version changes at promotion).
    row.running_v1 = (av.stable_version == "v1" ? av.stable_ready : 0) + (av.canary_version == "v1" ? av.canary_ready : 0);
    row.running_v2 = (av.stable_version == "v2" ? av.stable_ready : 0) + (av.canary_version == "v2" ? av.canary_ready : 0);
    row.held = held;
    if (rows.empty() || t - rows.back().t >= 0.95) rows.push_back(row);
  }
  std::ostringstream out;
  out << "lockstep demo (" << options.profile.name << ") " << fixed(t, 1) << " s   phase: " << phase_now << "\n";
  out << "  traffic   " << fixed(load ? load->rate() : 0, 0) << " req/s sent;  answered: v1 " << last.ok[0] << "/s   v2 "
      << last.ok[1] << "/s   errors " << (last.http_errors + last.failures) << "/s   held in proxy " << held << "\n";
  out << "  split     canary weight " << av.canary_weight << "%   observed canary share " << fixed(observed, 1)
      << "%   stable " << av.stable_version << (av.canary_version.empty() ? "" : ", canary " + av.canary_version)
      << "   Argo: " << av.step << "\n";
  out << "  scaler    metric " << fixed(kv.metric, 1) << " (target " << fixed(kv.target, 0) << ")   HPA wants "
      << kv.hpa_recommendation << "   active " << (kv.active ? "yes" : "no") << "\n";
  out << "  replicas  desired " << av.spec_replicas << "   stable RS " << av.stable_rs << " (ready " << av.stable_ready
      << ")   canary RS " << av.canary_rs << " (ready " << av.canary_ready << ")   starting " << av.starting << "\n";
  if (cs) {
    out << "  cold start  KEDA activated " << fixed(cs->activation_ms, 2) << " ms after the first request was sent; "
        << "served by " << (cs->version.empty() ? "-" : cs->version) << " after " << fixed(cs->served_ms, 0) << " ms\n";
  } else {
    out << "  cold start  -\n";
  }
  if (live && journal) {
    out << "  events:\n";
    for (const auto& e : journal->last(7)) out << "   " << journal->stamp(e.at) << "  " << e.actor << ": " << e.text << "\n";
  }
  return out.str();
}

void DemoRun::Impl::view_loop() {
  size_t drawn_lines = 0;
  auto next = SteadyClock::now();
  auto next_plain = SteadyClock::now();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_until(lock, next, [this] { return view_done; })) return;
    }
    next += 500ms;
    const std::string text = render_view(options.live_view && !options.quiet);
    if (options.quiet) continue;
    if (options.live_view) {
      std::string frame;
      if (drawn_lines > 0) frame += "\x1b[" + std::to_string(drawn_lines) + "F";
      size_t lines = 0;
      std::istringstream in(text);
      for (std::string line; std::getline(in, line); ++lines) frame += "\x1b[2K" + line.substr(0, 200) + "\n";
      for (size_t i = lines; i < drawn_lines; ++i) frame += "\x1b[2K\n";
      drawn_lines = std::max(lines, drawn_lines);
      std::cout << frame << std::flush;
    } else if (SteadyClock::now() >= next_plain) {
      next_plain = SteadyClock::now() + 5s;
      std::cout << text << std::flush;
    }
  }
}

void DemoRun::Impl::teardown() {
  if (load) load->stop(3s);
  if (keda) keda->stop();
  {
    std::lock_guard<std::mutex> lock(mu);
    view_done = true;
  }
  cv.notify_all();
  if (view_thread.joinable()) view_thread.join();
  if (fleet) fleet->stop();
  proxy.terminate(5s);
  scaler.terminate(5s);
}

DemoRun::DemoRun(DemoOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

DemoRun::~DemoRun() = default;

void DemoRun::request_stop(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    impl_->stop_reason = reason;
  }
  impl_->cv.notify_all();
}

DemoResult DemoRun::run() {
  Impl& m = *impl_;
  m.result.run_dir = m.options.run_dir;
  std::string error;
  std::thread duration_guard;
  if (m.options.duration) {
    duration_guard = std::thread([this, &m] {
      std::unique_lock<std::mutex> lock(m.mu);
      const bool ended = m.cv.wait_for(lock, *m.options.duration, [&] { return m.view_done; });
      lock.unlock();
      if (!ended) request_stop("--duration reached");
    });
  }
  if (m.start_components(&error)) {
    m.view_thread = std::thread([&m] { m.view_loop(); });
    m.scenario();
    if (m.options.before_teardown) m.options.before_teardown(m.ports);
  } else {
    m.result.error = error;
  }
  m.result.totals = m.load ? m.load->totals() : LoadGenerator::Totals{};
  m.teardown();
  if (m.load) m.result.totals = m.load->totals();
  if (duration_guard.joinable()) duration_guard.join();
  if (m.fleet) {
    m.result.pods_started = m.fleet->pods_started();
    m.result.pods_failed = m.fleet->pods_failed();
  }
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.result.stop_reason = m.stop_reason;
  }
  m.result.seconds = std::chrono::duration<double>(SteadyClock::now() - m.t0).count();
  if (m.result.error.empty()) {
    m.result.checks = evaluate_checks(m.result, m.options.profile);
    if (m.options.picture) {
      std::vector<TimelineRow> rows;
      std::vector<TimelineMark> marks;
      {
        std::lock_guard<std::mutex> lock(m.mu);
        rows = m.rows;
        marks = m.marks;
      }
      m.result.timeline = m.dir("timeline.tsv");
      std::string why;
      const std::string png = m.dir("timeline.png");
      const std::string title = "lockstep demo: request rate per backend, canary weight, desired vs running replicas";
      if (write_timeline(rows, marks, title, m.result.timeline, png, &why)) {
        m.result.picture = png;
      } else if (m.journal) {
        m.journal->add("demo", "timeline picture: " + why);
      }
    }
  }
  return m.result;
}

}  // namespace lockstep::demo
