// lockstep-keda-demo: what KEDA sees from lockstep-scaler while a synthetic proxy fleet serves a
// canary route through a cold start, a ramp, a surge and a stop. Used by scripts/demo.
//
//   lockstep-keda-demo --keda 127.0.0.1:9090 --ingest 127.0.0.1:9091 [--duration 30] [--quiet]
//
// The ScaledObject demo/web has two lockstep triggers, as a user would write them:
//   requestRate: target 20 req/s per replica over a 10 s window;  concurrency: target 5.
// Three proxies split the traffic 90/10 between web-stable and web-canary and report every
// 250 ms (at once when a request is held). The client behaves like KEDA: StreamIsActive held
// open, and every second GetMetricSpec, then GetMetrics + IsActive per trigger.
// Exits 0 when KEDA saw the activation pushed, every poll answered, the rate follow the traffic
// and the route go inactive after the stop.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

using namespace std::chrono_literals;
using lockstep::keda::FakeProxy;
using lockstep::keda::KedaClient;
using lockstep::keda::KedaOptions;
using lockstep::keda::StreamEvent;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string keda = "127.0.0.1:9090";
  std::string ingest = "127.0.0.1:9091";
  double duration = 30;
  bool quiet = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lockstep-keda-demo: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--keda") a.keda = value();
    else if (k == "--ingest") a.ingest = value();
    else if (k == "--duration") a.duration = std::atof(value().c_str());
    else if (k == "--quiet") a.quiet = true;
    else {
      std::fprintf(stderr,
                   "usage: lockstep-keda-demo [--keda host:port] [--ingest host:port] "
                   "[--duration seconds] [--quiet]\n");
      std::exit(2);
    }
  }
  if (a.duration < 10) {
    std::fprintf(stderr, "lockstep-keda-demo: --duration must be at least 10 seconds\n");
    std::exit(2);
  }
  return a;
}

// Requests per second the fleet serves at fraction f of the run.
double traffic(double f) {
  if (f < 0.10) return 0;
  if (f < 0.30) return 60 * (f - 0.10) / 0.20;  // ramp
  if (f < 0.50) return 60;
  if (f < 0.60) return 150;  // surge
  return 0;                  // stop
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args args = parse(argc, argv);

  KedaOptions o;
  o.address = args.keda;
  o.ns = "demo";
  o.name = "web";
  const std::map<std::string, std::string> common = {
      {"scalerAddress", "lockstep-scaler.lockstep:9090"},
      {"hosts", "web.demo.example.com"},
      {"rollout", "web"}};
  auto rate = common;
  rate.insert({{"scalingMetric", "requestRate"}, {"targetValue", "20"}, {"window", "10s"}});
  auto conc = common;
  conc.insert({{"scalingMetric", "concurrency"}, {"targetValue", "5"}});
  o.triggers = {{rate}, {conc}};
  o.stream_backoff_base = 2s;
  KedaClient keda(o);
  std::vector<std::vector<lockstep::keda::SpecView>> specs;
  const grpc::Status reconciled = keda.reconcile(&specs);
  if (!reconciled.ok()) {
    std::fprintf(stderr, "lockstep-keda-demo: GetMetricSpec failed: %s\n",
                 reconciled.error_message().c_str());
    return 1;
  }
  if (!args.quiet) {
    std::printf("ScaledObject demo/web, two lockstep triggers (KEDA's view):\n");
    for (size_t i = 0; i < specs.size(); ++i) {
      std::printf("  s%zu-%s  target %.3g per replica\n", i, specs[i][0].name.c_str(),
                  specs[i][0].target);
    }
  }
  keda.start_streams();

  auto channel = grpc::CreateChannel(args.ingest, grpc::InsecureChannelCredentials());
  const uint64_t epoch = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  struct Member {
    std::unique_ptr<FakeProxy> proxy;
    uint32_t stable, canary;
    double carry_stable = 0, carry_canary = 0;
  };
  std::vector<Member> fleet;
  for (int p = 0; p < 3; ++p) {
    Member m;
    m.proxy = std::make_unique<FakeProxy>(channel, "demo-proxy-" + std::to_string(p), epoch);
    if (!m.proxy->connect()) {
      std::fprintf(stderr, "lockstep-keda-demo: cannot open the ingest stream\n");
      return 1;
    }
    m.stable = m.proxy->define("demo/web", "web-stable");
    m.canary = m.proxy->define("demo/web", "web-canary");
    m.proxy->flush();
    fleet.push_back(std::move(m));
  }
  if (!args.quiet) {
    std::printf("three proxies connected; traffic: idle, a cold start at %.0fs, ramp to 60 req/s, "
                "surge to 150 req/s, stop at %.0fs\n\n",
                0.1 * args.duration, 0.6 * args.duration);
    std::printf("%7s  %-24s  %-22s  %-8s  %s\n", "time", "requestRate (target 20)",
                "concurrency (target 5)", "active", "replicas");
  }

  const auto start = Clock::now();
  const auto run_for = std::chrono::duration<double>(args.duration);
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  bool cold_start_sent = false;
  Clock::time_point held_at{};
  double held_release_at = 0;
  auto next_poll = start + 1s;
  auto next_report = start + 250ms;
  int polls = 0, poll_errors = 0;
  int64_t peak_replicas = 0;
  double peak_rate = 0;
  bool printed_activation = false;
  double activation_ms = -1;
  bool inactive_at_end = false;

  while (Clock::now() - start < run_for) {
    const double t = elapsed();
    const double f = t / args.duration;
    // Cold start: one request is held by proxy 0 (no ready endpoint yet); reported at once.
    if (!cold_start_sent && f >= 0.10) {
      cold_start_sent = true;
      fleet[0].proxy->gauges(fleet[0].stable, 0, 1);
      held_at = Clock::now();
      fleet[0].proxy->flush(/*urgent=*/true);
      held_release_at = t + 0.5;
    }
    if (Clock::now() >= next_report) {
      next_report += 250ms;
      const double rps = traffic(f);
      const bool holding = cold_start_sent && t < held_release_at;
      for (size_t p = 0; p < fleet.size(); ++p) {
        Member& m = fleet[p];
        // 90% to the stable Service, 10% to the canary (the split the Rollout asks for).
        const double share = rps * 0.25 / static_cast<double>(fleet.size());
        m.carry_stable += share * 0.9;
        m.carry_canary += share * 0.1;
        const auto stable = static_cast<uint64_t>(m.carry_stable);
        const auto canary = static_cast<uint64_t>(m.carry_canary);
        m.carry_stable -= static_cast<double>(stable);
        m.carry_canary -= static_cast<double>(canary);
        m.proxy->count(m.stable, stable);
        m.proxy->count(m.canary, canary);
        // About 80 ms per request: in flight = rate x latency, spread over the fleet.
        const auto in_flight = static_cast<uint32_t>(std::lround(rps * 0.08 / fleet.size()));
        m.proxy->gauges(m.stable, in_flight, p == 0 && holding ? 1 : 0);
        m.proxy->gauges(m.canary, in_flight / 10, 0);
        if (p == 0 && cold_start_sent && !holding && held_release_at > 0) {
          m.proxy->count(m.stable, 1);  // the held request is served
          held_release_at = -1;
        }
        m.proxy->flush();
      }
    }
    if (!printed_activation && keda.count(StreamEvent::kActive, 0) + keda.count(StreamEvent::kActive, 1) > 0) {
      printed_activation = true;
      for (const auto& e : keda.events()) {
        if (e.kind == StreamEvent::kActive) {
          activation_ms = std::chrono::duration<double, std::milli>(e.at - held_at).count();
          break;
        }
      }
      if (!args.quiet) {
        std::printf("%6.1fs  StreamIsActive -> true, %.2f ms after the held request was "
                    "reported (KEDA scales 0 -> 1 now)\n",
                    t, activation_ms);
      }
    }
    if (Clock::now() >= next_poll) {
      next_poll += 1s;
      const auto r = keda.poll();
      ++polls;
      bool ok = true;
      for (const auto& tp : r.triggers) ok = ok && !tp.error.has_value();
      if (!ok) {
        ++poll_errors;
        continue;
      }
      const double v_rate = r.triggers[0].values.at(0);
      const double v_conc = r.triggers[1].values.at(0);
      peak_rate = std::max(peak_rate, v_rate);
      peak_replicas = std::max(peak_replicas, r.desired_replicas);
      inactive_at_end = !r.active;
      if (!args.quiet) {
        char a[64], b[64];
        std::snprintf(a, sizeof a, "%7.3f req/s -> %lld", v_rate,
                      static_cast<long long>(r.triggers[0].desired_replicas));
        std::snprintf(b, sizeof b, "%5.0f -> %lld", v_conc,
                      static_cast<long long>(r.triggers[1].desired_replicas));
        std::printf("%6.1fs  %-24s  %-22s  %-8s  %lld\n", t, a, b, r.active ? "yes" : "no",
                    static_cast<long long>(r.active ? std::max<int64_t>(1, r.desired_replicas)
                                                    : 0));
      }
    }
    std::this_thread::sleep_for(5ms);
  }
  keda.stop_streams();
  for (auto& m : fleet) m.proxy->close();

  const bool activated = activation_ms >= 0;
  const bool pass = activated && poll_errors == 0 && peak_rate > 50 && peak_replicas >= 3;
  char activation[96];
  if (activated) {
    std::snprintf(activation, sizeof activation, "%.2f ms after the held request was reported",
                  activation_ms);
  } else {
    std::snprintf(activation, sizeof activation, "NOT seen");
  }
  std::printf("\nsummary: activation %s; %d polls, %d failed; peak request rate %.1f req/s; peak "
              "desired replicas %lld; %s at the end -> %s\n",
              activation, polls, poll_errors, peak_rate, static_cast<long long>(peak_replicas),
              inactive_at_end ? "inactive (KEDA scales to zero after its cooldown)" : "still active",
              pass ? "OK" : "FAILED");
  return pass ? 0 : 1;
}
