// Exactly-once accounting of cumulative reports: resends, reorders, duplicates, lost reports,
// proxy restarts (epochs), reconnects with history to a live and to a restarted scaler, and the
// gauge grace period.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "report_builder.h"

namespace lockstep::aggregator {
namespace {

using namespace std::chrono_literals;
using test::ReportBuilder;
namespace v1 = lockstep::v1;

constexpr char kRoute[] = "shop/web";

struct Scaler {
  ManualClock& clock;
  std::unique_ptr<Aggregator> agg;
  explicit Scaler(ManualClock& c, AggregatorOptions o = {})
      : clock(c), agg(std::make_unique<Aggregator>(c, o, Logger(LogLevel::kError))) {}

  std::unique_ptr<IngestSession> connect(const std::string& proxy, uint64_t epoch,
                                         IngestLimits limits = {}) {
    auto s = std::make_unique<IngestSession>(*agg, limits);
    v1::ReportResponse ack;
    bool has_ack = false;
    auto err = s->handle(test::hello(proxy, epoch), clock.steady_now(), &ack, &has_ack);
    REQUIRE_FALSE(err.has_value());
    return s;
  }
  uint64_t total() {
    auto r = agg->find_route(kRoute);
    return r ? r->requests_total() : 0;
  }
  // Requests in the ring over the last minute (what a 60 s requestRate window sums).
  double in_window() {
    auto r = agg->find_route(kRoute);
    if (!r) return 0;
    double sum = 0;
    for (size_t i = 0; i < r->series_count(); ++i) {
      sum += r->series(i).requests_in(clock.unix_ms() - 60'000, clock.unix_ms());
    }
    return sum;
  }
  int64_t in_flight() { return agg->find_route(kRoute)->in_flight(); }
  int64_t held() { return agg->find_route(kRoute)->held(); }
};

v1::ReportResponse send(IngestSession& s, const v1::ReportRequest& m, ManualClock& clock) {
  v1::ReportResponse ack;
  bool has_ack = false;
  auto err = s.handle(m, clock.steady_now(), &ack, &has_ack);
  REQUIRE_FALSE(err.has_value());
  REQUIRE(has_ack);
  return ack;
}

TEST_CASE("resent, duplicated and reordered reports add nothing, a lost one loses nothing") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100);
  auto ack = send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 10), clock);
  CHECK(ack.acked_seq() == 1);
  CHECK(scaler.total() == 10);
  clock.advance(1s);
  const auto r2 = ReportBuilder(2).sample(1, 25);
  send(*s, r2, clock);
  send(*s, r2, clock);  // duplicate
  CHECK(scaler.total() == 25);
  clock.advance(1s);
  // Report 3 (value 31) is lost; 4 carries it.
  send(*s, ReportBuilder(4).sample(1, 40), clock);
  CHECK(scaler.total() == 40);
  // The lost report arrives late (reordered): nothing.
  send(*s, ReportBuilder(3).sample(1, 31), clock);
  CHECK(scaler.total() == 40);
  // Resent definition on the same stream: fine, no reject, nothing counted.
  ack = send(*s, ReportBuilder(5).def(1, kRoute, "web", 0).sample(1, 40), clock);
  CHECK(ack.rejects_size() == 0);
  CHECK(scaler.total() == 40);
  CHECK(scaler.in_window() == doctest::Approx(40));
}

TEST_CASE("gauges from an older report never overwrite newer ones") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(10).def(1, kRoute, "web").sample(1, 1, 5, 2), clock);
  CHECK(scaler.in_flight() == 5);
  CHECK(scaler.held() == 2);
  send(*s, ReportBuilder(9).sample(1, 1, 9, 9), clock);  // reordered older report
  CHECK(scaler.in_flight() == 5);
  CHECK(scaler.held() == 2);
  send(*s, ReportBuilder(11).sample(1, 1, 1, 0), clock);
  CHECK(scaler.in_flight() == 1);
  CHECK(scaler.held() == 0);
}

TEST_CASE("two proxies sum, a new boot epoch drops the old process' gauges and keeps its counts") {
  ManualClock clock;
  Scaler scaler(clock);
  auto a = scaler.connect("p1", 100);
  auto b = scaler.connect("p2", 100);
  send(*a, ReportBuilder(1).def(1, kRoute, "web").sample(1, 50, 4, 1), clock);
  send(*b, ReportBuilder(1).def(7, kRoute, "web").sample(7, 30, 2, 0), clock);
  CHECK(scaler.total() == 80);
  CHECK(scaler.in_flight() == 6);
  CHECK(scaler.held() == 1);
  // p1 restarts: its counters begin again at 0 under a new epoch. Not a counter reset.
  auto a2 = scaler.connect("p1", 200);
  CHECK(scaler.in_flight() == 2);  // the old p1's gauges are gone at once
  CHECK(scaler.held() == 0);
  CHECK(scaler.total() == 80);     // its requests stay counted
  send(*a2, ReportBuilder(1).def(3, kRoute, "web").sample(3, 5, 1, 0), clock);
  CHECK(scaler.total() == 85);
  CHECK(scaler.in_flight() == 3);
  // The old process' stream is still open (a zombie): its counts still count exactly once, its
  // gauges no longer.
  send(*a, ReportBuilder(2).sample(1, 55, 9, 9), clock);
  CHECK(scaler.total() == 90);
  CHECK(scaler.in_flight() == 3);
  // An epoch older than the newest one is refused.
  IngestSession stale(*scaler.agg, {});
  v1::ReportResponse ack;
  bool has_ack = false;
  auto err = stale.handle(test::hello("p1", 150), clock.steady_now(), &ack, &has_ack);
  REQUIRE(err.has_value());
  CHECK(err->code == IngestError::Code::kFailedPrecondition);
  CHECK(err->message.find("hello.boot_epoch: 150 is older than 200") != std::string::npos);
  CHECK(scaler.agg->proxies_connected() == 2);
}

TEST_CASE("reconnect to a live scaler: history credits only what the scaler has not seen") {
  ManualClock clock;
  Scaler scaler(clock);
  clock.advance(60s);  // the scaler has watched a full window
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 100), clock);
  s.reset();  // stream lost
  // While disconnected the proxy served 5 requests a second for 4 s. It reconnects with its
  // history: base 90 (where its history starts), buckets carrying it to 100 (already known) and
  // then to 120, and a sample of 122.
  const int64_t t = clock.unix_ms();
  clock.advance(4s);
  auto s2 = scaler.connect("p1", 100);
  auto ack = send(*s2,
                  ReportBuilder(2)
                      .def(9, kRoute, "web", 90)
                      .history(9, t - 2000, {5, 5, 5, 5, 5, 5})  // 90 -> 120
                      .sample(9, 122),
                  clock);
  CHECK(ack.rejects_size() == 0);
  CHECK(scaler.total() == 122);
  CHECK(scaler.in_window() == doctest::Approx(122));
  // The requests made while disconnected sit in their own seconds, not in the last one.
  auto route = scaler.agg->find_route(kRoute);
  CHECK(route->series(0).requests_in(t, t + 3000) == doctest::Approx(15));
}

TEST_CASE("reconnect to a restarted scaler: last = base and the history fills the window") {
  ManualClock clock;
  const int64_t t = clock.unix_ms() - clock.unix_ms() % 1000;
  clock.advance(30s);
  Scaler scaler(clock);  // started now: it has seen nothing
  auto s = scaler.connect("p1", 100);
  // The proxy has counted 5000 requests since boot; its history covers the last 30 s (3/s).
  std::initializer_list<uint32_t> thirty_threes = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
                                                   3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  send(*s, ReportBuilder(1).def(1, kRoute, "web", 4910).history(1, t, thirty_threes).sample(1, 5000),
       clock);
  // Requests before the history (the first 4910) are not counted; the 90 of the history are,
  // in their seconds, so the rate is right at once: 3 rps over the 30 s seen.
  CHECK(scaler.total() == 90);
  auto route = scaler.agg->find_route(kRoute);
  CHECK(route->observed_since_ms() == t);
  CHECK(route->request_rate(clock.unix_ms(), 60'000) == doctest::Approx(3.0));
}

TEST_CASE("history beyond the ring is counted in the total only") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100);
  const int64_t t = clock.unix_ms() - clock.unix_ms() % 1000;
  std::vector<uint32_t> counts(120, 1);  // two minutes of history, 1/s
  ReportBuilder r(1);
  r.def(1, kRoute, "web", 0);
  auto m = r.msg();
  auto* h = m.mutable_report()->add_history();
  h->set_id(1);
  h->set_start_unix_ms(t - 120'000);
  for (uint32_t c : counts) h->add_counts(c);
  auto ack = send(*s, m, clock);
  CHECK(ack.rejects_size() == 0);
  CHECK(scaler.total() == 120);
  CHECK(scaler.agg->find_route(kRoute)->request_rate(clock.unix_ms(), 60'000) ==
        doctest::Approx(1.0));
}

TEST_CASE("a base above the known value counts the gap in the total, in no bucket") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 10), clock);
  s.reset();
  clock.advance(10min);
  auto s2 = scaler.connect("p1", 100);
  send(*s2, ReportBuilder(2).def(1, kRoute, "web", 70).sample(1, 75), clock);
  CHECK(scaler.total() == 75);
  CHECK(scaler.in_window() == doctest::Approx(5));
}

TEST_CASE("a disconnected proxy keeps its gauges for the grace period, then stops") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.gauge_grace = 10s});
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 3, 2, 1), clock);
  s.reset();
  CHECK(scaler.agg->proxies_connected() == 0);
  clock.advance(9s);
  scaler.agg->sweep();
  CHECK(scaler.in_flight() == 2);
  CHECK(scaler.held() == 1);
  clock.advance(1s);
  scaler.agg->sweep();
  CHECK(scaler.in_flight() == 0);
  CHECK(scaler.held() == 0);
  CHECK(scaler.total() == 3);
  // Back after the grace period: the next report sets the gauges from zero.
  auto s2 = scaler.connect("p1", 100);
  send(*s2, ReportBuilder(2).def(1, kRoute, "web", 0).sample(1, 4, 2, 0), clock);
  CHECK(scaler.in_flight() == 2);
  CHECK(scaler.total() == 4);
}

TEST_CASE("reconnect within the grace period: gauges continue without a gap") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.gauge_grace = 10s});
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 3, 2, 1), clock);
  s.reset();
  clock.advance(5s);
  auto s2 = scaler.connect("p1", 100);
  clock.advance(10s);
  scaler.agg->sweep();
  CHECK(scaler.in_flight() == 2);
  send(*s2, ReportBuilder(2).def(4, kRoute, "web", 3).sample(4, 3, 1, 0), clock);
  CHECK(scaler.in_flight() == 1);
  CHECK(scaler.held() == 0);
  CHECK(scaler.total() == 3);
}

TEST_CASE("a forgotten proxy that returns is treated like one meeting a restarted scaler") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.gauge_grace = 1s, .proxy_state_ttl = 2min});
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").sample(1, 100), clock);
  s.reset();
  clock.advance(2min);
  scaler.agg->sweep();
  auto s2 = scaler.connect("p1", 100);
  send(*s2, ReportBuilder(2).def(1, kRoute, "web", 100).sample(1, 110), clock);
  CHECK(scaler.total() == 110);
}

TEST_CASE("bad entries are rejected one by one, named, counted, and the stream goes on") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.max_routes = 2});
  auto s = scaler.connect("p1", 100);
  const int64_t t = clock.unix_ms() - clock.unix_ms() % 1000;
  auto ack = send(*s,
                  ReportBuilder(1)
                      .def(1, kRoute, "web")
                      .def(0, kRoute, "web")                 // id 0
                      .def(2, "shop", "web")                 // no namespace
                      .def(3, "shop/web", "Web")             // backend not a label
                      .def(1, "shop/other", "web")           // id reused
                      .def(4, "shop/two", "web")             // second route: fits
                      .def(5, "shop/three", "web")           // third: over max_routes
                      .def(6, kRoute, "web")
                      .history(1, t + 1, {1})                // misaligned
                      .history(6, t + 3'600'000, {1})        // in the future
                      .history(77, t, {1})                   // unknown id
                      .sample(1, 5)
                      .sample(8, 5)                          // unknown id
                      .sample(6, 1, 2'000'000, 0)            // gauge too large
                      .sample(4, 2'000'000'000),             // jump too large
                  clock);
  CHECK(ack.acked_seq() == 1);
  std::vector<std::pair<uint32_t, v1::Reject::Reason>> got;
  for (const auto& r : ack.rejects()) {
    got.emplace_back(r.series_id(), r.reason());
    CHECK_FALSE(r.message().empty());
  }
  const std::vector<std::pair<uint32_t, v1::Reject::Reason>> want = {
      {0, v1::Reject::VALUE_OUT_OF_RANGE},  {2, v1::Reject::MALFORMED_ROUTE},
      {3, v1::Reject::MALFORMED_BACKEND},   {1, v1::Reject::DUPLICATE_SERIES_ID},
      {5, v1::Reject::ROUTE_LIMIT},         {1, v1::Reject::HISTORY_INVALID},
      {6, v1::Reject::HISTORY_INVALID},     {77, v1::Reject::UNKNOWN_SERIES_ID},
      {8, v1::Reject::UNKNOWN_SERIES_ID},   {6, v1::Reject::VALUE_OUT_OF_RANGE},
      {4, v1::Reject::VALUE_OUT_OF_RANGE},
  };
  CHECK(got == want);
  CHECK(ack.rejects(1).message() == "defs[2].route: route \"shop\" is not \"namespace/name\"");
  CHECK(ack.rejects(4).message().find("aggregator.max_routes") != std::string::npos);
  CHECK(ack.rejects(7).message() == "history[2].id: 77 was not defined on this stream");
  CHECK(scaler.total() == 5);
  CHECK(scaler.agg->stats().rejects[static_cast<size_t>(RejectReason::kHistoryInvalid)] == 2);
  // The stream is still usable.
  ack = send(*s, ReportBuilder(2).sample(1, 7), clock);
  CHECK(ack.rejects_size() == 0);
  CHECK(scaler.total() == 7);
}

TEST_CASE("the listing of rejects in one ack is bounded and summarised") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100, IngestLimits{.max_rejects_listed = 3});
  ReportBuilder r(1);
  for (uint32_t i = 0; i < 10; ++i) r.sample(100 + i, 1);
  auto ack = send(*s, r, clock);
  REQUIRE(ack.rejects_size() == 4);
  CHECK(ack.rejects(3).message() == "7 more rejects in this report were not listed");
  CHECK(scaler.agg->stats().rejects[static_cast<size_t>(RejectReason::kUnknownSeriesId)] == 10);
}

TEST_CASE("stream-level errors: no hello first, bad hello, second hello, oversized report") {
  ManualClock clock;
  Aggregator agg(clock, {}, Logger(LogLevel::kError));
  v1::ReportResponse ack;
  bool has_ack = false;
  auto check = [&](IngestSession& s, const v1::ReportRequest& m, IngestError::Code code,
                   const std::string& text) {
    auto err = s.handle(m, clock.steady_now(), &ack, &has_ack);
    REQUIRE(err.has_value());
    CHECK(err->code == code);
    CHECK(err->message.find(text) != std::string::npos);
  };
  {
    IngestSession s(agg, {});
    check(s, ReportBuilder(1).sample(1, 1), IngestError::Code::kInvalidArgument,
          "hello: the first message of a stream must carry hello");
  }
  {
    IngestSession s(agg, {});
    check(s, test::hello("bad id!", 1), IngestError::Code::kInvalidArgument, "hello.proxy_id");
  }
  {
    IngestSession s(agg, {});
    check(s, test::hello("p", 0), IngestError::Code::kInvalidArgument, "hello.boot_epoch");
  }
  {
    IngestSession s(agg, {});
    check(s, test::hello("p", 1, 50), IngestError::Code::kInvalidArgument,
          "hello.history_granularity_ms: 50 is outside [100, 60000]");
  }
  {
    IngestSession s(agg, {});
    check(s, v1::ReportRequest(), IngestError::Code::kInvalidArgument, "hello:");
  }
  {
    IngestSession s(agg, IngestLimits{.max_entries_per_report = 2});
    REQUIRE_FALSE(s.handle(test::hello("p", 1), clock.steady_now(), &ack, &has_ack));
    check(s, test::hello("p", 1), IngestError::Code::kInvalidArgument, "sent twice");
    check(s, ReportBuilder(1).sample(1, 1).sample(2, 1).sample(3, 1),
          IngestError::Code::kResourceExhausted, "ingest.max_entries_per_report");
  }
  CHECK(agg.stats().streams_refused == 7);
}

TEST_CASE("the rollout view lists connected proxies with the route table version they apply") {
  ManualClock clock;
  Scaler scaler(clock);
  auto a = scaler.connect("p1", 100);
  auto b = scaler.connect("p2", 100);
  send(*a, ReportBuilder(1).version(42), clock);
  clock.advance(1s);
  send(*b, ReportBuilder(1).version(43), clock);
  auto list = scaler.agg->connected_proxies();
  REQUIRE(list.size() == 2);
  CHECK(list[0].proxy_id == "p1");
  CHECK(list[0].route_table_version == 42);
  CHECK(list[1].route_table_version == 43);
  CHECK(list[1].last_report_unix_ms == clock.unix_ms());
  CHECK(list[0].connected_since_unix_ms == clock.unix_ms() - 1000);
  b.reset();
  CHECK(scaler.agg->connected_proxies().size() == 1);
}

TEST_CASE("idle routes nobody references are evicted, pinned or referenced ones stay") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.route_idle_eviction = 5min, .gauge_grace = 1s,
                                         .proxy_state_ttl = 1h});
  auto pin = scaler.agg->pin_route("shop/pinned", RouteShape{});
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, "shop/a", "web").def(2, "shop/b", "web").sample(1, 1).sample(2, 1),
       clock);
  clock.advance(10min);
  scaler.agg->sweep();
  CHECK(scaler.agg->route_count() == 3);  // the stream references a and b
  s.reset();
  scaler.agg->sweep();
  CHECK(scaler.agg->route_count() == 1);  // a and b idle for 10 min, no stream: evicted
  CHECK(scaler.agg->find_route("shop/pinned"));
  CHECK(scaler.agg->stats().routes_evicted == 2);
  // The proxy returns: its old state for the evicted routes was released, so it starts afresh.
  auto s2 = scaler.connect("p1", 100);
  send(*s2, ReportBuilder(2).def(1, "shop/a", "web", 1).sample(1, 4), clock);
  CHECK(scaler.agg->find_route("shop/a")->requests_total() == 3);
  pin.reset();
  s2.reset();
  clock.advance(10min);
  scaler.agg->sweep();
  CHECK(scaler.agg->route_count() == 0);
}

TEST_CASE("evictions in any order keep every other route: the sweep's route list stays whole") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.route_idle_eviction = 5min, .gauge_grace = 1s,
                                         .proxy_state_ttl = 1h});
  // 60 routes; every third pinned. Three rounds: evict the unpinned, bring half of them back,
  // unpin some, evict again. Each round checks exactly which routes exist.
  std::vector<RoutePin> pins;
  std::set<std::string> pinned;
  auto key = [](int i) { return "shop/r" + std::to_string(i); };
  for (int i = 0; i < 60; i += 3) {
    pins.push_back(scaler.agg->pin_route(key(i), RouteShape{}));
    pinned.insert(key(i));
  }
  std::set<std::string> alive;
  for (int round = 0; round < 3; ++round) {
    {
      auto s = scaler.connect("p" + std::to_string(round), 100);
      ReportBuilder b(1);
      uint32_t id = 1;
      for (int i = round; i < 60; i += 1 + round) {
        b.def(id, key(i), "web").sample(id, 1);
        ++id;
        alive.insert(key(i));
      }
      send(*s, b, clock);
      for (const auto& k : pinned) alive.insert(k);
      scaler.agg->sweep();  // the stream still references its routes: nothing goes
      CHECK(scaler.agg->route_count() == alive.size());
    }
    if (round == 1) {
      // Unpin the first half of the pinned routes: they may go now too.
      const size_t half = pins.size() / 2;
      pins.erase(pins.begin(), pins.begin() + static_cast<long>(half));
      pinned.clear();
      for (int i = 0; i < 60; i += 3) {
        if (static_cast<size_t>(i / 3) >= half) pinned.insert(key(i));
      }
    }
    clock.advance(10min);
    scaler.agg->sweep();
    alive = pinned;
    CHECK(scaler.agg->route_count() == alive.size());
    for (int i = 0; i < 60; ++i) {
      CHECK(static_cast<bool>(scaler.agg->find_route(key(i))) == (alive.count(key(i)) == 1));
    }
    scaler.agg->sweep();  // a second sweep over the compacted list finds nothing more
    CHECK(scaler.agg->route_count() == alive.size());
  }
}

TEST_CASE("a dropped series index is rebuilt: reconnects, new definitions and evictions stay exact") {
  ManualClock clock;
  Scaler scaler(clock, AggregatorOptions{.route_idle_eviction = 5min, .gauge_grace = 1s,
                                         .proxy_state_ttl = 1h});
  auto s = scaler.connect("p1", 100);
  send(*s, ReportBuilder(1).def(1, kRoute, "web").def(2, "shop/other", "web").sample(1, 10).sample(2, 5),
       clock);
  std::string why;
  auto epoch = scaler.agg->open_stream("p1", 100, &why);
  REQUIRE(epoch);
  // Two idle sweeps: the first clears the "used" mark of the definitions, the second drops it.
  scaler.agg->sweep();
  scaler.agg->sweep();
  {
    std::lock_guard<std::mutex> lock(epoch->apply_mutex());
    CHECK_FALSE(epoch->index_built());
    CHECK(epoch->state_count() == 2);
  }
  // Samples need no index.
  send(*s, ReportBuilder(2).sample(1, 12), clock);
  CHECK(scaler.total() == 12);
  // A second stream of the same process defines the same series under another id: it continues
  // from the state found through the rebuilt index (nothing counted twice).
  auto s2 = scaler.connect("p1", 100);
  send(*s2, ReportBuilder(3).def(7, kRoute, "web", 11).sample(7, 15), clock);
  CHECK(scaler.total() == 15);
  {
    std::lock_guard<std::mutex> lock(epoch->apply_mutex());
    CHECK(epoch->index_built());
    CHECK(epoch->state_count() == 2);
  }
  scaler.agg->close_stream(epoch);
  // Dropped again, then an eviction releases the idle route's state through a rebuilt index.
  scaler.agg->sweep();
  scaler.agg->sweep();
  s.reset();
  s2.reset();
  clock.advance(10min);
  scaler.agg->sweep();
  CHECK(scaler.agg->route_count() == 0);
  {
    std::lock_guard<std::mutex> lock(epoch->apply_mutex());
    CHECK(epoch->state_count() == 0);
  }
}

TEST_CASE("the stream id table keeps ids defined in order as one run and falls back to a table") {
  StreamSlots t;
  CHECK(t.get(0) == StreamSlots::kNone);
  CHECK(t.get(1) == StreamSlots::kNone);
  for (uint32_t id = 1; id <= 1000; ++id) t.set(id, id + 6);
  CHECK(t.is_run());
  CHECK(t.get(1) == 7);
  CHECK(t.get(1000) == 1006);
  CHECK(t.get(1001) == StreamSlots::kNone);
  CHECK(t.get(0) == StreamSlots::kNone);
  t.set(1002, 3);  // a gap: the run becomes a table, with every earlier id kept
  CHECK_FALSE(t.is_run());
  CHECK(t.get(500) == 506);
  CHECK(t.get(1001) == StreamSlots::kNone);
  CHECK(t.get(1002) == 3);
  t.reserve(5000);
  CHECK(t.get(4999) == StreamSlots::kNone);
  size_t n = 0;
  uint64_t sum = 0;
  t.for_each([&](uint32_t s) {
    ++n;
    sum += s;
  });
  CHECK(n == 1001);
  CHECK(sum == (7 + 1006) * 1000 / 2 + 3);
  StreamSlots u;  // a first id other than 1, or an out-of-line state, also ends the run
  u.set(1, 0);
  u.set(2, 5);
  CHECK_FALSE(u.is_run());
  CHECK(u.get(1) == 0);
  CHECK(u.get(2) == 5);
}

TEST_CASE("a stream whose ids are not a run counts exactly like one whose ids are") {
  ManualClock clock;
  Scaler scaler(clock);
  auto s = scaler.connect("p1", 100);
  // Ids 5, 3, 9 (no run) and a resend of 3.
  send(*s, ReportBuilder(1).def(5, kRoute, "web").def(3, "shop/a", "web").def(9, "shop/b", "web")
               .sample(5, 10).sample(3, 1).sample(9, 2),
       clock);
  send(*s, ReportBuilder(2).def(3, "shop/a", "web").sample(5, 12).sample(3, 1), clock);
  CHECK(scaler.total() == 12);
  CHECK(scaler.agg->find_route("shop/a")->requests_total() == 1);
  CHECK(scaler.agg->find_route("shop/b")->requests_total() == 2);
}

}  // namespace
}  // namespace lockstep::aggregator
