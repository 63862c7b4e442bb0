// Window math on a manual clock: what requestRate reads as traffic starts, runs, stops and
// resumes after a long idle.
#include <doctest/doctest.h>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "report_builder.h"

namespace lockstep::aggregator {
namespace {

using namespace std::chrono_literals;
using test::ReportBuilder;

constexpr char kRoute[] = "shop/web";

// One proxy reporting a single series every `step`, with `rps` requests per second.
struct Fixture {
  // Start on a bucket boundary so the arithmetic below is exact.
  ManualClock clock{std::chrono::milliseconds(1'800'000'000'000)};
  Aggregator agg{clock, AggregatorOptions{}, Logger(LogLevel::kError)};
  IngestSession session{agg, IngestLimits{}};
  uint64_t seq = 0;
  uint64_t requests = 0;

  Fixture() {
    lockstep::v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(session.handle(test::hello("p1", 1), clock.steady_now(), &ack, &has_ack));
    send(ReportBuilder(++seq).def(1, kRoute, "web").sample(1, 0));
  }
  void send(const lockstep::v1::ReportRequest& m) {
    lockstep::v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(session.handle(m, clock.steady_now(), &ack, &has_ack));
    REQUIRE(ack.rejects_size() == 0);
  }
  // Advances `d` in steps of `step`, reporting `per_step` new requests at the end of each step.
  void run(std::chrono::milliseconds d, std::chrono::milliseconds step, uint64_t per_step,
           uint32_t held = 0) {
    for (auto t = 0ms; t < d; t += step) {
      clock.advance(step);
      requests += per_step;
      send(ReportBuilder(++seq).sample(1, requests, 0, held));
    }
  }
  double rate(uint32_t window_ms = 60'000) {
    return agg.find_route(kRoute)->request_rate(clock.unix_ms(), window_ms);
  }
};

TEST_CASE("a steady rate reads as true requests per second, at any instant inside a bucket") {
  Fixture f;
  f.run(120s, 1s, 10);  // 10 rps for two minutes
  CHECK(f.rate() == doctest::Approx(10.0));
  // Reports every 250ms: the current bucket is partly filled, the oldest one partly inside.
  f.run(10s + 750ms, 250ms, 5);  // 20 rps
  f.run(60s, 250ms, 5);
  CHECK(f.rate() == doctest::Approx(20.0));
  f.clock.advance(100ms);  // no report yet in this instant: slightly below, never above
  CHECK(f.rate() <= 20.0);
  CHECK(f.rate() > 19.5);
}

TEST_CASE("a step in traffic moves the rate linearly over the window") {
  Fixture f;
  f.run(60s, 1s, 10);
  f.run(30s, 1s, 40);
  // Half the window at 10, half at 40.
  CHECK(f.rate() == doctest::Approx(25.0));
  // A 10 s window sees only the new rate.
  CHECK(f.rate(10'000) == doctest::Approx(40.0));
}

TEST_CASE("after traffic stops the rate decays linearly to exactly 0 one window later") {
  Fixture f;
  f.run(60s, 1s, 60);  // 60 rps
  CHECK(f.rate() == doctest::Approx(60.0));
  f.clock.advance(15s);
  CHECK(f.rate() == doctest::Approx(45.0));
  f.clock.advance(30s);
  CHECK(f.rate() == doctest::Approx(15.0));
  f.clock.advance(14s);
  CHECK(f.rate() == doctest::Approx(1.0));
  f.clock.advance(1s);
  CHECK(f.rate() == 0.0);
  f.clock.advance(1h);
  CHECK(f.rate() == 0.0);
}

TEST_CASE("a window longer than the data seen averages over what was seen") {
  Fixture f;
  f.run(10s, 1s, 30);  // 30 rps for the first 10 s of the scaler's life
  CHECK(f.rate() == doctest::Approx(30.0));  // not 300/60 = 5
  f.run(20s, 1s, 30);
  CHECK(f.rate() == doctest::Approx(30.0));
  // A one-hour window after 30 s: still the average over those 30 s.
  CHECK(f.rate(3'600'000) == doctest::Approx(30.0));
}

TEST_CASE("long idle then one request: the rate is small but never 0") {
  Fixture f;
  f.run(10s, 1s, 5);
  f.clock.advance(2h);
  CHECK(f.rate() == 0.0);
  f.run(1s, 1s, 1);  // one request
  const double r = f.rate();
  CHECK(r == doctest::Approx(1.0 / 60));
  CHECK(r > 0);
  // On a 1 h window too (the HTTP add-on rounded this to 0.000: #1692).
  f.agg.pin_route(kRoute, RouteShape{1000, 3'600'000});
  CHECK(f.rate(3'600'000) > 0);
}

TEST_CASE("held and in-flight gauges are exact sums over live proxies") {
  Fixture f;
  f.run(1s, 1s, 0, /*held=*/3);
  auto route = f.agg.find_route(kRoute);
  CHECK(route->held() == 3);
  f.run(1s, 1s, 0, 0);
  CHECK(route->held() == 0);
}

TEST_CASE("a trigger with a finer or longer shape reshapes the ring without losing counts") {
  Fixture f;
  f.run(30s, 1s, 10);
  const double before = f.rate(30'000);
  auto pin = f.agg.pin_route(kRoute, RouteShape{500, 300'000});
  auto route = f.agg.find_route(kRoute);
  CHECK(route->shape() == RouteShape{500, 300'000});
  CHECK(f.rate(30'000) == doctest::Approx(before));
  f.run(30s, 500ms, 5);
  CHECK(f.rate(60'000) == doctest::Approx(10.0));
  f.agg.sweep();  // drains the replaced rings (no writer inside them any more)
  CHECK(f.rate(60'000) == doctest::Approx(10.0));
  CHECK(route->requests_total() == 600);
}

}  // namespace
}  // namespace lockstep::aggregator
