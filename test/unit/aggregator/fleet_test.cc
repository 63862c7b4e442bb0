// Proxy fleets: the summed gauges of the proxies that name a fleet in their Hello, over every
// route they carry (what a proxyFleet trigger reads), and how they follow disconnects, restarts
// and evicted routes.
#include <doctest/doctest.h>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "report_builder.h"

namespace lockstep::aggregator {
namespace {

using namespace std::chrono_literals;
using test::ReportBuilder;
namespace v1 = lockstep::v1;

v1::ReportRequest hello_in(const std::string& proxy, uint64_t epoch, const std::string& fleet) {
  v1::ReportRequest m = test::hello(proxy, epoch);
  m.mutable_hello()->set_fleet(fleet);
  return m;
}

struct Fixture {
  ManualClock clock;
  Aggregator agg{clock, AggregatorOptions{.gauge_grace = 10s}, Logger(LogLevel::kError)};

  std::unique_ptr<IngestSession> connect(const v1::ReportRequest& hello) {
    auto s = std::make_unique<IngestSession>(agg, IngestLimits{});
    v1::ReportResponse ack;
    bool has_ack = false;
    auto err = s->handle(hello, clock.steady_now(), &ack, &has_ack);
    INFO((err ? err->message : std::string()));
    REQUIRE_FALSE(err.has_value());
    return s;
  }
  void send(IngestSession& s, const v1::ReportRequest& m) {
    v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(s.handle(m, clock.steady_now(), &ack, &has_ack).has_value());
    CHECK(ack.rejects_size() == 0);
  }
};

TEST_CASE("a fleet sums in-flight and held over its proxies and all their routes") {
  Fixture f;
  auto fleet = f.agg.fleet("lockstep/lockstep-proxy");
  auto other = f.agg.fleet("edge/edge-proxy");
  auto a = f.connect(hello_in("proxy-a", 1, "lockstep/lockstep-proxy"));
  auto b = f.connect(hello_in("proxy-b", 1, "lockstep/lockstep-proxy"));
  auto c = f.connect(hello_in("proxy-c", 1, "edge/edge-proxy"));
  auto old = f.connect(test::hello("proxy-old", 1));  // names no fleet
  f.send(*a, ReportBuilder(1)
                 .def(1, "shop/web", "web-stable")
                 .def(2, "shop/web", "web-canary")
                 .def(3, "blog/site", "site")
                 .sample(1, 10, 3, 0)
                 .sample(2, 2, 1, 0)
                 .sample(3, 5, 2, 4));
  f.send(*b, ReportBuilder(1).def(7, "shop/web", "web-stable").sample(7, 1, 5, 0));
  f.send(*c, ReportBuilder(1).def(1, "shop/web", "web-stable").sample(1, 1, 100, 0));
  f.send(*old, ReportBuilder(1).def(1, "blog/site", "site").sample(1, 1, 6, 1));
  CHECK(fleet->in_flight == 3 + 1 + 2 + 5);
  CHECK(fleet->held == 4);
  CHECK(fleet->concurrency() == 15);
  CHECK(other->concurrency() == 100);
  CHECK(f.agg.unnamed_fleet()->concurrency() == 7);
  // The routes see every proxy, whatever its fleet.
  CHECK(f.agg.find_route("shop/web")->in_flight() == 3 + 1 + 5 + 100);

  // Changes are applied as deltas; stale gauges (an older seq) are ignored.
  f.send(*a, ReportBuilder(3).sample(1, 12, 0, 0).sample(3, 6, 0, 1));
  CHECK(fleet->concurrency() == 1 + 5 + 1);
  f.send(*a, ReportBuilder(2).sample(1, 11, 9, 9));
  CHECK(fleet->concurrency() == 7);

  // The status view names each proxy's fleet.
  std::map<std::string, std::string> fleets;
  for (const auto& p : f.agg.connected_proxies()) fleets[p.proxy_id] = p.fleet;
  CHECK(fleets["proxy-a"] == "lockstep/lockstep-proxy");
  CHECK(fleets["proxy-c"] == "edge/edge-proxy");
  CHECK(fleets["proxy-old"] == "");
  auto listed = f.agg.fleets();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]->key == "edge/edge-proxy");
  CHECK(listed[1]->key == "lockstep/lockstep-proxy");
}

TEST_CASE("a fleet loses a proxy's gauges after the grace period and at once on a restart") {
  Fixture f;
  auto fleet = f.agg.fleet("lockstep/lockstep-proxy");
  auto a = f.connect(hello_in("proxy-a", 1, "lockstep/lockstep-proxy"));
  auto b = f.connect(hello_in("proxy-b", 1, "lockstep/lockstep-proxy"));
  f.send(*a, ReportBuilder(1).def(1, "shop/web", "web").sample(1, 1, 4, 1));
  f.send(*b, ReportBuilder(1).def(1, "shop/web", "web").sample(1, 1, 2, 0));
  CHECK(fleet->concurrency() == 7);
  // proxy-a disconnects: it still counts during the grace period, then not.
  a.reset();
  f.clock.advance(9s);
  f.agg.sweep();
  CHECK(fleet->concurrency() == 7);
  f.clock.advance(1s);
  f.agg.sweep();
  CHECK(fleet->concurrency() == 2);
  // proxy-b restarts (a newer boot epoch): the old process' gauges go at once.
  auto b2 = f.connect(hello_in("proxy-b", 2, "lockstep/lockstep-proxy"));
  CHECK(fleet->concurrency() == 0);
  f.send(*b2, ReportBuilder(1).def(1, "shop/web", "web").sample(1, 1, 3, 0));
  CHECK(fleet->concurrency() == 3);
  // The route agrees with the fleet (every proxy here is in it).
  CHECK(f.agg.find_route("shop/web")->in_flight() == 3);
}

TEST_CASE("a fleet nobody holds is forgotten, a held one is kept") {
  Fixture f;
  {
    auto a = f.connect(hello_in("proxy-a", 1, "tmp/gone"));
    CHECK(f.agg.fleets().size() == 1);
  }
  auto held = f.agg.fleet("lockstep/lockstep-proxy");
  f.clock.advance(1h);  // past the proxy state TTL: proxy-a is forgotten
  f.agg.sweep();
  auto listed = f.agg.fleets();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]->key == "lockstep/lockstep-proxy");
  CHECK(f.agg.fleet("lockstep/lockstep-proxy") == held);
  CHECK(f.agg.fleet("") == f.agg.unnamed_fleet());
}

TEST_CASE("hello.fleet must be namespace/name, a bad one refuses the stream with the field named") {
  Fixture f;
  for (const std::string bad : {"lockstep", "Lockstep/proxy", "lockstep/proxy/x", "/proxy"}) {
    IngestSession s(f.agg, IngestLimits{});
    v1::ReportResponse ack;
    bool has_ack = false;
    auto err = s.handle(hello_in("proxy-a", 1, bad), f.clock.steady_now(), &ack, &has_ack);
    REQUIRE(err.has_value());
    CHECK(err->code == IngestError::Code::kInvalidArgument);
    CHECK(err->message.rfind("hello.fleet: \"" + bad + "\"", 0) == 0);
  }
  CHECK(f.agg.stats().streams_refused == 4);
  CHECK(f.agg.fleets().empty());
}

}  // namespace
}  // namespace lockstep::aggregator
