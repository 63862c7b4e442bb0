// Metric values and activation on a manual clock: the floor that keeps a held request from
// reading as 0, concurrency, activation edges pushed only on inactive->active, the parse cache,
// the catalogue seam and the extension point.
#include <doctest/doctest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "aggregator/ingest_session.h"
#include "scaler/activation_hub.h"
#include "scaler/metric_computation.h"
#include "scaler/trigger_cache.h"
#include "scaler/trigger_catalogue.h"
#include "../aggregator/report_builder.h"

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;
using aggregator::test::ReportBuilder;
namespace v1 = lockstep::v1;
using Metadata = std::map<std::string, std::string>;

// The scaler's pieces without gRPC: one proxy session, the parse cache, the hub.
struct Fixture {
  ManualClock clock;
  aggregator::Aggregator agg{clock, {}, Logger(LogLevel::kError)};
  MetricComputation computation{clock};
  prometheus::Registry registry;
  ScalerMetrics metrics{registry};
  TriggerCache cache{agg, Logger(LogLevel::kError)};
  ActivationHub hub{agg, computation, metrics, Logger(LogLevel::kError)};
  aggregator::IngestSession session{agg, {}};
  uint64_t seq = 0;

  Fixture() {
    agg.set_activity_listener(&hub);
    v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(session.handle(aggregator::test::hello("p1", 1), clock.steady_now(), &ack, &has_ack));
    report(ReportBuilder(0).def(1, "shop/web", "web-stable").def(2, "shop/web", "web-canary"));
  }
  ~Fixture() {
    hub.stop();
    agg.set_activity_listener(nullptr);
  }
  void report(ReportBuilder b) {
    v1::ReportRequest m = b.msg();
    m.mutable_report()->set_seq(++seq);
    v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(session.handle(m, clock.steady_now(), &ack, &has_ack));
    REQUIRE(ack.rejects_size() == 0);
  }
  std::shared_ptr<Trigger> trigger(Metadata extra = {}) {
    Metadata md = {{"hosts", "shop.example.com"}, {"targetValue", "10"}};
    for (auto& [k, v] : extra) md[k] = v;
    auto t = cache.lookup("shop", "web", md);
    REQUIRE(t.trigger);
    return t.trigger;
  }
  MetricReading read(const std::shared_ptr<Trigger>& t) {
    return computation.read(t->spec, t->route());
  }
};

TEST_CASE("requestRate sums the backends over the trigger's window") {
  Fixture f;
  auto t = f.trigger();
  f.clock.advance(60s);
  for (int i = 1; i <= 60; ++i) {
    f.clock.advance(1s);
    f.report(ReportBuilder(0).sample(1, 30u * i).sample(2, 10u * i));
  }
  CHECK(f.read(t).value == doctest::Approx(40.0));
  CHECK(f.read(t).active);
  auto t10 = f.trigger({{"window", "10s"}});
  CHECK(f.read(t10).value == doctest::Approx(40.0));
}

TEST_CASE("a held request never reads as 0, however long the idle before it") {
  Fixture f;
  auto t = f.trigger({{"window", "1h"}});
  f.clock.advance(3h);
  CHECK(f.read(t).value == 0);
  CHECK_FALSE(f.read(t).active);
  f.report(ReportBuilder(0).sample(1, 0, 0, 1));  // a request held, not yet counted
  const MetricReading r = f.read(t);
  CHECK(r.value == MetricComputation::kMinPositive);
  CHECK(r.held == 1);
  CHECK(r.active);
  // Once it is proxied it is counted: 1 request over the hour, still above the floor's rounding.
  f.report(ReportBuilder(0).sample(1, 1, 1, 0));
  CHECK(f.read(t).value == MetricComputation::kMinPositive);  // 1/3600 < 0.001
  CHECK(f.read(t).active);
  f.report(ReportBuilder(0).sample(1, 1, 0, 0));
  CHECK(f.read(t).value == MetricComputation::kMinPositive);
  f.clock.advance(1h);
  CHECK(f.read(t).value == 0);
  CHECK_FALSE(f.read(t).active);
}

TEST_CASE("concurrency is in flight plus held over backends, and activation honours the value") {
  Fixture f;
  auto t = f.trigger({{"scalingMetric", "concurrency"}, {"activationValue", "2"}});
  f.report(ReportBuilder(0).sample(1, 5, 2, 0).sample(2, 0, 0, 0));
  CHECK(f.read(t).value == 2);
  CHECK_FALSE(f.read(t).active);  // 2 is not above activationValue 2
  f.report(ReportBuilder(0).sample(1, 5, 2, 0).sample(2, 0, 1, 0));
  CHECK(f.read(t).value == 3);
  CHECK(f.read(t).active);
  // A held request activates whatever activationValue says.
  f.report(ReportBuilder(0).sample(1, 5, 0, 0).sample(2, 0, 0, 1));
  CHECK(f.read(t).value == 1);
  CHECK(f.read(t).active);
}

TEST_CASE("the cache parses each distinct metadata map once and caches errors too") {
  Fixture f;
  const uint64_t before = f.cache.parses();
  auto a = f.trigger();
  auto b = f.trigger();
  CHECK(a == b);
  CHECK(f.cache.parses() == before + 1);
  auto c = f.trigger({{"scalingMetric", "concurrency"}});
  CHECK(c != a);
  CHECK(&c->route() == &a->route());  // two triggers, one route
  Metadata broken = {{"hosts", "a.com"}, {"targetValue", "0"}};
  auto e1 = f.cache.lookup("shop", "web", broken);
  auto e2 = f.cache.lookup("shop", "web", broken);
  REQUIRE(e1.error);
  CHECK(e1.error == e2.error);
  CHECK(f.cache.parses() == before + 3);
  // Idle entries go; their routes then lose the pin.
  f.clock.advance(2h);
  f.cache.sweep(1h);
  CHECK(f.cache.size() == 0);
}

TEST_CASE("the cache tells apart metadata that differ only in how strings split into pairs") {
  Fixture f;
  const uint64_t before = f.cache.parses();
  // A flat "k=v" or NUL-joined form would make these three look alike.
  Metadata one = {{"hosts", "a.com"}, {"targetValue", "10"}};
  Metadata joined = {{"hosts", std::string("a.com\0targetValue\0", 20) + "10"}};
  Metadata shifted = {{"hosts", "a.co"}, {"mtargetValue", "10"}};
  auto a = f.cache.lookup("shop", "web", one);
  auto b = f.cache.lookup("shop", "web", joined);
  auto c = f.cache.lookup("shop", "web", shifted);
  CHECK(f.cache.parses() == before + 3);
  REQUIRE(a.trigger);
  CHECK(a.trigger->spec.hosts == std::vector<std::string>{"a.com"});
  CHECK(b.error);  // no targetValue, and a host that is not a host name
  CHECK(c.trigger != a.trigger);
  // The same metadata under another ScaledObject is another trigger; order never matters.
  auto d = f.cache.lookup("shop", "web2", one);
  auto e = f.cache.lookup("sho", "pweb", one);
  CHECK(f.cache.parses() == before + 5);
  CHECK(d.trigger->spec.route_key == "shop/web2");
  CHECK(e.trigger->spec.route_key == "sho/pweb");
  CHECK(f.cache.lookup("shop", "web", Metadata{{"targetValue", "10"}, {"hosts", "a.com"}}).trigger ==
        a.trigger);
  CHECK(f.cache.parses() == before + 5);
}

// A hub sink that records what it was sent.
struct FakeSink final : ActivationHub::Sink {
  std::atomic<int> trues{0};
  std::atomic<bool> closed{false};
  bool push_active() override {
    if (closed) return false;
    trues.fetch_add(1);
    return true;
  }
  bool done() const override { return closed; }
};

template <typename Pred>
bool eventually(Pred p) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return p();
}

TEST_CASE("StreamIsActive semantics: true on each inactive->active edge only, woken by ingest") {
  Fixture f;
  f.hub.start();
  auto t = f.trigger();
  auto sink = std::make_shared<FakeSink>();
  f.hub.subscribe(t, sink);
  // Idle at first: nothing sent, the route gets armed.
  REQUIRE(eventually([&] { return f.hub.rounds() > 0 && t->route().armed(); }));
  CHECK(sink->trues == 0);
  // A held request arrives: the ingest path wakes the hub, which pushes true at once.
  f.report(ReportBuilder(0).sample(1, 0, 0, 1));
  REQUIRE(eventually([&] { return sink->trues == 1; }));
  // More traffic while active: no repeat, and no wake-ups (the route is disarmed).
  for (int i = 1; i <= 20; ++i) {
    f.clock.advance(1s);
    f.report(ReportBuilder(0).sample(1, i, 1, 0));
  }
  const uint64_t rounds = f.hub.rounds();  // before the tick: its round may end first
  f.hub.tick();
  REQUIRE(eventually([&] { return f.hub.rounds() > rounds; }));
  CHECK(sink->trues == 1);
  // Traffic stops: after the window the route decays to inactive (seen on a tick), then a new
  // request is a new edge.
  f.report(ReportBuilder(0).sample(1, 20, 0, 0));
  f.clock.advance(61s);
  f.hub.tick();
  REQUIRE(eventually([&] { return t->route().armed(); }));
  CHECK(sink->trues == 1);
  f.report(ReportBuilder(0).sample(1, 21, 1, 0));
  REQUIRE(eventually([&] { return sink->trues == 2; }));
  CHECK(f.hub.activations().at("shop/web") == 2);
  // A second stream on an active route gets true once, at once.
  auto late = std::make_shared<FakeSink>();
  f.hub.subscribe(t, late);
  REQUIRE(eventually([&] { return late->trues == 1; }));
  CHECK(sink->trues == 2);
  // Closed streams are dropped.
  sink->closed = true;
  late->closed = true;
  f.hub.tick();
  REQUIRE(eventually([&] { return f.hub.subscriptions() == 0; }));
}

TEST_CASE("two triggers on one ScaledObject activate independently") {
  Fixture f;
  f.hub.start();
  auto rate = f.trigger({{"activationValue", "5"}});
  auto conc = f.trigger({{"scalingMetric", "concurrency"}});
  auto s_rate = std::make_shared<FakeSink>();
  auto s_conc = std::make_shared<FakeSink>();
  f.hub.subscribe(rate, s_rate);
  f.hub.subscribe(conc, s_conc);
  REQUIRE(eventually([&] { return rate->route().armed(); }));
  f.report(ReportBuilder(0).sample(1, 1, 1, 0));  // 1 request in flight: rate 1/s < 5
  REQUIRE(eventually([&] { return s_conc->trues == 1; }));
  // Count the rounds before the tick: the round it wakes may finish before tick() returns.
  const uint64_t rounds = f.hub.rounds();
  f.hub.tick();
  REQUIRE(eventually([&] { return f.hub.rounds() > rounds; }));
  CHECK(s_rate->trues == 0);
  f.report(ReportBuilder(0).sample(1, 50, 1, 0));  // 50 requests in the first second: 50/s
  REQUIRE(eventually([&] { return s_rate->trues == 1; }));
  CHECK(s_conc->trues == 1);
}

// The extension point: a subclass changes the value for triggers that ask for it.
struct DoubledRate final : MetricComputation {
  using MetricComputation::MetricComputation;
  MetricReading read(const TriggerSpec& spec, const aggregator::Route& route) const override {
    MetricReading r = MetricComputation::read(spec, route);
    if (spec.extra.count("double")) r.value *= 2;
    return r;
  }
  MetricSpecValue spec(const TriggerSpec& s) const override {
    auto v = MetricComputation::spec(s);
    if (s.extra.count("double")) v.target *= 2;
    return v;
  }
};

TEST_CASE("a MetricComputation subclass reads the trigger's own keys") {
  Fixture f;
  DoubledRate doubled(f.clock);
  auto plain = f.trigger({{"scalingMetric", "concurrency"}});
  auto marked = f.trigger({{"scalingMetric", "concurrency"}, {"double", "yes"}});
  f.report(ReportBuilder(0).sample(1, 1, 3, 0));
  CHECK(doubled.read(plain->spec, plain->route()).value == 3);
  CHECK(doubled.read(marked->spec, marked->route()).value == 6);
  CHECK(doubled.spec(marked->spec).target == 20);
}

TEST_CASE("the catalogue pins routes with their shape, names roles and reports changes") {
  Fixture f;
  TriggerCatalogue cat(f.agg);
  int changes = 0;
  cat.on_change([&] { ++changes; });
  auto results = cat.upsert({"shop", "cart",
                             {{{"hosts", "cart.example.com"}, {"targetValue", "5"}, {"window", "5m"}},
                              {{"hosts", "cart.example.com"}, {"targetValue", "0"}}}});
  REQUIRE(results.size() == 2);
  CHECK(results[0].spec.has_value());
  REQUIRE(results[1].error.has_value());
  CHECK(results[1].error->key == "targetValue");
  auto route = f.agg.find_route("shop/cart");
  REQUIRE(route);
  CHECK(route->shape().window_ms == 300'000);
  cat.set_backends("shop/cart", {{"cart-stable", BackendRole::kStable}, {"cart-canary", BackendRole::kCanary}});
  CHECK(cat.role("shop/cart", "cart-canary") == BackendRole::kCanary);
  CHECK(cat.role("shop/cart", "other") == BackendRole::kOther);
  CHECK(cat.role("shop/none", "x") == BackendRole::kOther);
  CHECK(cat.triggers().size() == 1);
  CHECK(changes == 2);
  // Pinned: not evicted while the ScaledObject is known, evicted once it is gone and idle.
  f.clock.advance(1h);
  f.agg.sweep();
  CHECK(f.agg.find_route("shop/cart"));
  cat.remove("shop", "cart");
  f.agg.sweep();
  CHECK_FALSE(f.agg.find_route("shop/cart"));
  CHECK(changes == 3);
}

TEST_CASE("a proxyFleet trigger reads its fleet's concurrency, activates on ticks, pins no route") {
  Fixture f;  // its proxy p1 names no fleet: it counts toward every fleet
  f.hub.start();
  const Metadata md = {{"proxyFleet", "lockstep/lockstep-proxy"},
                       {"scalingMetric", "concurrency"},
                       {"targetValue", "200"}};
  auto found = f.cache.lookup("lockstep", "lockstep-proxy", md);
  REQUIRE(found.trigger);
  auto t = found.trigger;
  CHECK(t->is_fleet());
  CHECK_FALSE(t->pin);
  CHECK_FALSE(f.agg.find_route("lockstep/lockstep-proxy"));
  CHECK(f.computation.read_trigger(*t).value == 0);
  auto sink = std::make_shared<FakeSink>();
  f.hub.subscribe(t, sink);
  REQUIRE(eventually([&] { return f.hub.rounds() > 0; }));
  CHECK(sink->trues == 0);

  // Two proxies of the fleet and one of another fleet, carrying two routes.
  auto connect = [&](const std::string& id, const std::string& fleet) {
    auto s = std::make_unique<aggregator::IngestSession>(f.agg, aggregator::IngestLimits{});
    v1::ReportRequest hello = aggregator::test::hello(id, 1);
    hello.mutable_hello()->set_fleet(fleet);
    v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(s->handle(hello, f.clock.steady_now(), &ack, &has_ack));
    return s;
  };
  auto send = [&](aggregator::IngestSession& s, const ReportBuilder& b) {
    v1::ReportResponse ack;
    bool has_ack = false;
    REQUIRE_FALSE(s.handle(b.msg(), f.clock.steady_now(), &ack, &has_ack));
    REQUIRE(ack.rejects_size() == 0);
  };
  auto a = connect("proxy-a", "lockstep/lockstep-proxy");
  auto b = connect("proxy-b", "lockstep/lockstep-proxy");
  auto edge = connect("proxy-edge", "edge/edge-proxy");
  send(*a, ReportBuilder(1).def(1, "shop/web", "web-stable").def(2, "blog/site", "site")
               .sample(1, 9, 120, 0).sample(2, 3, 30, 0));
  send(*b, ReportBuilder(1).def(1, "shop/web", "web-canary").sample(1, 2, 40, 2));
  send(*edge, ReportBuilder(1).def(1, "shop/web", "web-stable").sample(1, 5, 1000, 0));
  f.report(ReportBuilder(0).sample(1, 0, 8, 0));  // p1 (no fleet)
  MetricReading r = f.computation.read_trigger(*t);
  CHECK(r.in_flight == 120 + 30 + 40 + 8);
  CHECK(r.held == 2);
  CHECK(r.value == 200);
  CHECK(r.active);
  // The hub sees it on the next tick (fleet triggers have no route to arm).
  f.hub.tick();
  REQUIRE(eventually([&] { return sink->trues == 1; }));
  CHECK(f.hub.activations().at("lockstep/lockstep-proxy") == 1);
  const uint64_t rounds = f.hub.rounds();  // before the tick: its round may end first
  f.hub.tick();
  REQUIRE(eventually([&] { return f.hub.rounds() > rounds; }));
  CHECK(sink->trues == 1);  // still active: no second true
  // A second trigger for the same ScaledObject with another metric is refused; the route
  // triggers of the apps are unaffected.
  auto bad = f.cache.lookup("lockstep", "lockstep-proxy",
                            Metadata{{"proxyFleet", "lockstep/lockstep-proxy"},
                                     {"scalingMetric", "requestRate"},
                                     {"targetValue", "1"}});
  REQUIRE(bad.error);
  CHECK(bad.error->key == "scalingMetric");
  // The catalogue keeps the fleet trigger out of the route table and pins nothing for it.
  TriggerCatalogue cat(f.agg);
  auto results = cat.upsert({"lockstep", "lockstep-proxy", {md}});
  REQUIRE(results.at(0).spec);
  CHECK(results[0].spec->is_fleet());
  CHECK(cat.triggers().empty());
  CHECK_FALSE(f.agg.find_route("lockstep/lockstep-proxy"));
  sink->closed = true;
  f.hub.tick();
  REQUIRE(eventually([&] { return f.hub.subscriptions() == 0; }));
}

}  // namespace
}  // namespace lockstep::scaler
