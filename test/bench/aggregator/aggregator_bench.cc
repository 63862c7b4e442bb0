// The aggregator core, single-threaded and on both cores: applying decoded reports (the per-entry
// update path), the bucket ring, and the lock-free read of a route's rate.
//
//   build/<dir>/test/bench/aggregator/aggregator_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"

namespace lockstep::aggregator {
namespace {

namespace v1 = lockstep::v1;

// routes x proxies: every proxy has a stream that defined every route (one backend each) and a
// decoded report with a sample per route. Built once per (routes, proxies) pair.
struct World {
  SystemClock clock;
  Aggregator agg;
  std::vector<std::unique_ptr<IngestSession>> sessions;
  std::vector<v1::Report> reports;
  std::vector<uint64_t> seq;

  World(int routes, int proxies)
      : agg(clock, AggregatorOptions{.max_routes = static_cast<size_t>(routes) + 10},
            Logger(LogLevel::kError, [](std::string_view) {})) {
    for (int p = 0; p < proxies; ++p) {
      auto s = std::make_unique<IngestSession>(
          agg, IngestLimits{.max_entries_per_report = static_cast<size_t>(routes) * 2 + 10});
      v1::ReportRequest hello;
      hello.mutable_hello()->set_proxy_id("proxy-" + std::to_string(p));
      hello.mutable_hello()->set_boot_epoch(1);
      v1::ReportResponse ack;
      bool has_ack = false;
      s->handle(hello, clock.steady_now(), &ack, &has_ack);
      v1::Report defs;
      defs.set_seq(1);
      v1::Report samples;
      for (int r = 0; r < routes; ++r) {
        auto* d = defs.add_defs();
        d->set_id(r + 1);
        d->set_route("ns-" + std::to_string(r % 100) + "/route-" + std::to_string(r));
        d->set_backend("web");
        auto* x = samples.add_samples();
        x->set_id(r + 1);
        x->set_requests(0);
        x->set_in_flight(static_cast<uint32_t>(r % 3));
      }
      s->report(defs, clock.steady_now(), &ack);
      sessions.push_back(std::move(s));
      reports.push_back(std::move(samples));
      seq.push_back(1);
    }
  }

  // Next cumulative values for proxy p: every series grows (each entry credits a ring slot).
  void advance(int p) {
    auto& r = reports[p];
    r.set_seq(++seq[p]);
    for (auto& s : *r.mutable_samples()) s.set_requests(s.requests() + 1 + (s.id() & 3));
  }
};

World& world(int routes, int proxies) {
  static std::map<std::pair<int, int>, std::unique_ptr<World>> worlds;
  auto& w = worlds[{routes, proxies}];
  if (!w) w = std::make_unique<World>(routes, proxies);
  return *w;
}

// Decoded entries applied per second: one report (`routes` samples) per iteration, proxies in
// turn. With Threads(2) each thread drives its own half of the proxies.
void BM_ApplyReport(benchmark::State& state) {
  const int routes = static_cast<int>(state.range(0));
  const int proxies = static_cast<int>(state.range(1));
  World& w = world(routes, proxies);
  const int threads = state.threads();
  int p = state.thread_index();
  v1::ReportResponse ack;
  for (auto _ : state) {
    state.PauseTiming();
    w.advance(p);
    ack.Clear();
    state.ResumeTiming();
    w.sessions[p]->report(w.reports[p], w.clock.steady_now(), &ack);
    p = (p + threads) % proxies;
  }
  state.SetItemsProcessed(state.iterations() * routes);
  state.counters["aggregator_bytes"] =
      benchmark::Counter(static_cast<double>(w.agg.memory_bytes()), benchmark::Counter::kDefaults,
                         benchmark::Counter::kIs1024);
}
BENCHMARK(BM_ApplyReport)->Args({10'000, 100})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ApplyReport)
    ->Args({10'000, 100})
    ->Threads(2)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_RingAdd(benchmark::State& state) {
  BucketRing ring(1000, 62);
  int64_t b = 1'800'000'000;
  uint64_t i = 0;
  for (auto _ : state) {
    ring.add(b + static_cast<int64_t>((i++ >> 10) % 3), 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingAdd);

// A 60 s request rate read over a route with two backends (stable + canary).
void BM_RequestRate(benchmark::State& state) {
  SystemClock clock;
  Aggregator agg(clock, {}, Logger(LogLevel::kError, [](std::string_view) {}));
  IngestSession s(agg, {});
  v1::ReportRequest hello;
  hello.mutable_hello()->set_proxy_id("p");
  hello.mutable_hello()->set_boot_epoch(1);
  v1::ReportResponse ack;
  bool has_ack = false;
  s.handle(hello, clock.steady_now(), &ack, &has_ack);
  v1::Report r;
  r.set_seq(1);
  for (int i = 1; i <= 2; ++i) {
    auto* d = r.add_defs();
    d->set_id(i);
    d->set_route("shop/web");
    d->set_backend(i == 1 ? "web-stable" : "web-canary");
    auto* x = r.add_samples();
    x->set_id(i);
    x->set_requests(100);
  }
  s.report(r, clock.steady_now(), &ack);
  auto route = agg.find_route("shop/web");
  double sink = 0;
  for (auto _ : state) {
    sink += route->request_rate(clock.unix_ms(), 60'000);
    benchmark::DoNotOptimize(sink);
  }
}
BENCHMARK(BM_RequestRate);

}  // namespace
}  // namespace lockstep::aggregator

BENCHMARK_MAIN();
