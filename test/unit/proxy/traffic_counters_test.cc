#include "proxy/traffic_counters.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

namespace lockstep::proxy {
namespace {

TEST_CASE("series are registered once in order with stable addresses") {
  TrafficCounters c(2);
  RouteCounters& r = c.route("ns/app");
  SeriesCounters& a = c.series(r, "app-stable");
  SeriesCounters& b = c.series(r, "app-canary");
  CHECK(&c.series(r, "app-stable") == &a);
  CHECK(&c.route("ns/app") == &r);
  CHECK(a.index() == 0);
  CHECK(b.index() == 1);
  CHECK(c.series_count() == 2);
  CHECK(r.ns() == "ns");
  CHECK(r.name() == "app");
}

TEST_CASE("single-writer shards sum to exact totals while a reader watches") {
  TrafficCounters c(2);
  SeriesCounters& s = c.series(c.route("ns/app"), "app");
  constexpr int kPerWorker = 100'000;
  std::vector<std::thread> workers;
  for (uint32_t w = 0; w < 2; ++w) {
    workers.emplace_back([&s, w] {
      SeriesShard& shard = s.shard(w);
      for (int i = 0; i < kPerWorker; ++i) {
        shard.requests.add();
        shard.in_flight.inc();
        shard.count_status(i % 10 == 0 ? 503 : 200);
        shard.in_flight.dec();
      }
    });
  }
  uint64_t last = 0;
  bool monotonic = true;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t now = s.requests();
    monotonic = monotonic && now >= last;
    last = now;
  }
  for (auto& t : workers) t.join();
  CHECK(monotonic);
  CHECK(s.requests() == 2 * kPerWorker);
  CHECK(s.in_flight() == 0);
  uint64_t ok = 0, unavailable = 0;
  for (uint32_t w = 0; w < 2; ++w) {
    ok += s.shard(w).status[1].load()->codes[0].load();
    unavailable += s.shard(w).status[4].load()->codes[3].load();
  }
  CHECK(ok == 180'000);
  CHECK(unavailable == 20'000);
}

TEST_CASE("latency observations land in the first bucket whose bound holds them") {
  RouteShard shard;
  shard.observe_latency(400'000);     // 0.4 ms -> le 0.0005
  shard.observe_latency(1'000'000);   // 1 ms -> le 0.001
  shard.observe_latency(90'000'000'000);  // 90 s -> +Inf
  CHECK(shard.latency_buckets[0].load() == 1);
  CHECK(shard.latency_buckets[1].load() == 1);
  CHECK(shard.latency_buckets[kLatencyBounds.size()].load() == 1);
  CHECK(shard.latency_count.load() == 3);
}

}  // namespace
}  // namespace lockstep::proxy
