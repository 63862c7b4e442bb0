// Ingest streams, readers, a reshape and sweeps all at once (run under TSan by the tsan preset).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "report_builder.h"

namespace lockstep::aggregator {
namespace {

using test::ReportBuilder;
namespace v1 = lockstep::v1;

TEST_CASE("concurrent ingest, reads, reshapes and sweeps keep every count exactly once") {
  SystemClock clock;
  Aggregator agg(clock, AggregatorOptions{}, Logger(LogLevel::kError));
  constexpr int kProxies = 4;
  constexpr int kRoutes = 40;
  constexpr int kReports = 300;
  std::atomic<bool> stop{false};
  std::atomic<int> writers_done{0};

  auto route_key = [](int r) { return "ns/route-" + std::to_string(r); };

  std::vector<std::thread> threads;
  for (int p = 0; p < kProxies; ++p) {
    threads.emplace_back([&, p] {
      IngestSession s(agg, IngestLimits{});
      v1::ReportResponse ack;
      bool has_ack = false;
      REQUIRE_FALSE(s.handle(test::hello("p" + std::to_string(p), 1), clock.steady_now(), &ack,
                             &has_ack));
      ReportBuilder defs(1);
      for (int r = 0; r < kRoutes; ++r) {
        defs.def(r + 1, route_key(r), (r + p) % 2 ? "web-stable" : "web-canary");
      }
      REQUIRE_FALSE(s.handle(defs, clock.steady_now(), &ack, &has_ack));
      for (int seq = 2; seq <= kReports; ++seq) {
        ReportBuilder rep(seq);
        // Cumulative: after report `seq`, route r has (seq - 1) * (r + 1) requests. Resend the
        // previous report now and then.
        for (int r = 0; r < kRoutes; ++r) {
          rep.sample(r + 1, static_cast<uint64_t>(seq - 1) * (r + 1), seq % 3, seq % 2);
        }
        ack.Clear();
        REQUIRE_FALSE(s.handle(rep, clock.steady_now(), &ack, &has_ack));
        REQUIRE(ack.rejects_size() == 0);
        if (seq % 10 == 0) REQUIRE_FALSE(s.handle(rep, clock.steady_now(), &ack, &has_ack));
      }
      // Leave the gauges at zero.
      ReportBuilder last(kReports + 1);
      for (int r = 0; r < kRoutes; ++r) {
        last.sample(r + 1, static_cast<uint64_t>(kReports - 1) * (r + 1), 0, 0);
      }
      REQUIRE_FALSE(s.handle(last, clock.steady_now(), &ack, &has_ack));
      writers_done.fetch_add(1);
    });
  }
  // Readers: rates, gauges, totals, proxy snapshots.
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      double sink = 0;
      while (!stop.load()) {
        for (int r = 0; r < kRoutes; ++r) {
          if (auto route = agg.find_route(route_key(r))) {
            sink += route->request_rate(clock.unix_ms(), 60'000);
            sink += static_cast<double>(route->in_flight() + route->held());
            CHECK(route->held() >= 0);
            sink += static_cast<double>(route->requests_total());
          }
        }
        sink += static_cast<double>(agg.connected_proxies().size());
      }
      CHECK(sink >= 0);
    });
  }
  // Triggers arriving with finer and longer windows, and maintenance.
  threads.emplace_back([&] {
    std::vector<RoutePin> pins;
    int step = 0;
    while (!stop.load()) {
      if (step < kRoutes) {
        pins.push_back(agg.pin_route(route_key(step), RouteShape{500, 120'000}));
        ++step;
      }
      agg.sweep();
      std::this_thread::yield();
    }
  });
  while (writers_done.load() < kProxies) std::this_thread::yield();
  stop.store(true);
  for (auto& t : threads) t.join();
  agg.sweep();  // drains what reshapes left behind

  for (int r = 0; r < kRoutes; ++r) {
    auto route = agg.find_route(route_key(r));
    REQUIRE(route);
    const uint64_t want = static_cast<uint64_t>(kProxies) * (kReports - 1) * (r + 1);
    CHECK(route->requests_total() == want);
    // Everything happened within the last minute: the window holds every request too.
    const double in_window = route->request_rate(clock.unix_ms(), 60'000);
    CHECK(in_window > 0);
    CHECK(route->in_flight() == 0);
    CHECK(route->held() == 0);
  }
  // Per proxy: the definitions, reports 2..kReports, a resend every 10th, the last one.
  CHECK(agg.stats().reports ==
        static_cast<uint64_t>(kProxies) * (1 + (kReports - 1) + kReports / 10 + 1));
}

}  // namespace
}  // namespace lockstep::aggregator
