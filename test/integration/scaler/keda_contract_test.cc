// lockstep-scaler over real gRPC on loopback, driven by a KEDA-like client and a fake proxy
// pushing reports over the real ingest stream.
#include <doctest/doctest.h>
#include <grpcpp/generic/generic_stub.h>

#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <cmath>

#include "scaler_harness.h"
#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;
using keda::FakeProxy;
using keda::KedaClient;
using keda::KedaOptions;
using keda::StreamEvent;
using test::eventually;
namespace es = externalscaler;

// One ScaledObject "demo/web" with two lockstep triggers: request rate and concurrency.
KedaOptions two_triggers(const std::string& address) {
  KedaOptions o;
  o.address = address;
  o.ns = "demo";
  o.name = "web";
  o.triggers = {
      {{{"scalerAddress", "lockstep-scaler.lockstep:9090"},
        {"hosts", "web.example.com"},
        {"targetValue", "10"},
        {"window", "10s"}}},
      {{{"scalerAddress", "lockstep-scaler.lockstep:9090"},
        {"hosts", "web.example.com"},
        {"scalingMetric", "concurrency"},
        {"targetValue", "2.5"}}},
  };
  o.stream_backoff_base = 50ms;
  o.stream_backoff_max = 400ms;
  return o;
}

TEST_CASE("KEDA's call pattern reads true request rates and concurrency, both triggers") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaClient keda(two_triggers(scaler.keda_address()));
  std::vector<std::vector<keda::SpecView>> specs;
  REQUIRE(keda.reconcile(&specs).ok());
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].at(0).name == "lockstep-requestrate-demo-web");
  CHECK(specs[0].at(0).target == 10);
  CHECK(specs[1].at(0).name == "lockstep-concurrency-demo-web");
  CHECK(specs[1].at(0).target == 2.5);
  // targetSize is the ceiling, for KEDA < 2.17.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::GetMetricSpecResponse resp;
    REQUIRE(keda.stub().GetMetricSpec(&ctx, keda.ref(1), &resp).ok());
    CHECK(resp.metricspecs(0).targetsize() == 3);
    CHECK(resp.metricspecs(0).targetsizefloat() == 2.5);
  }
  // Nothing yet: an exact 0 in both fields, not active.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = keda.ref(0);
    req.set_metricname("LOCKSTEP-requestrate-demo-web");  // case-insensitive
    es::GetMetricsResponse resp;
    REQUIRE(keda.stub().GetMetrics(&ctx, req, &resp).ok());
    REQUIRE(resp.metricvalues_size() == 1);
    CHECK(resp.metricvalues(0).metricvaluefloat() == 0);
    CHECK(resp.metricvalues(0).metricvalue() == 0);
  }
  auto idle = keda.poll();
  CHECK_FALSE(idle.active);
  CHECK(idle.desired_replicas == 0);

  // Two proxies, stable and canary backends, 10 s of traffic at 36 + 4 requests a second.
  FakeProxy p1(scaler.ingest_channel(), "proxy-1", 1), p2(scaler.ingest_channel(), "proxy-2", 1);
  REQUIRE(p1.connect());
  REQUIRE(p2.connect());
  const uint32_t s1 = p1.define("demo/web", "web-stable"), c1 = p1.define("demo/web", "web-canary");
  const uint32_t s2 = p2.define("demo/web", "web-stable");
  clock.advance(30s);
  for (int i = 0; i < 10; ++i) {
    clock.advance(1s);
    p1.count(s1, 18);
    p1.count(c1, 4);
    p2.count(s2, 18);
    p1.gauges(s1, 3, 0);
    p2.gauges(s2, 4, 1);
    REQUIRE(p1.wait_ack(p1.flush(), 5s));
    REQUIRE(p2.wait_ack(p2.flush(), 5s));
  }
  auto r = keda.poll();
  REQUIRE(r.triggers.size() == 2);
  REQUIRE_FALSE(r.triggers[0].error.has_value());
  REQUIRE_FALSE(r.triggers[1].error.has_value());
  CHECK(r.triggers[0].values.at(0) == doctest::Approx(40.0));
  CHECK(r.triggers[0].desired_replicas == 4);
  CHECK(r.triggers[1].values.at(0) == 8);  // 3 + 4 in flight, 1 held
  CHECK(r.triggers[1].desired_replicas == 4);  // ceil(8 / 2.5)
  CHECK(r.active);
  // metricValue (the integer) is the ceiling of the float.
  {
    clock.advance(500ms);  // 39.x req/s now
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = keda.ref(0);
    req.set_metricname("lockstep-requestrate-demo-web");
    es::GetMetricsResponse resp;
    REQUIRE(keda.stub().GetMetrics(&ctx, req, &resp).ok());
    const double f = resp.metricvalues(0).metricvaluefloat();
    CHECK(f < 40);
    CHECK(resp.metricvalues(0).metricvalue() == static_cast<int64_t>(std::ceil(f)));
  }
  // Traffic stops: the 10 s window empties, the gauges go to 0, the trigger goes inactive.
  p1.gauges(s1, 0, 0);
  p2.gauges(s2, 0, 0);
  REQUIRE(p1.wait_ack(p1.flush(), 5s));
  REQUIRE(p2.wait_ack(p2.flush(), 5s));
  clock.advance(11s);
  auto after = keda.poll();
  CHECK(after.triggers[0].values.at(0) == 0);
  CHECK(after.triggers[1].values.at(0) == 0);
  CHECK_FALSE(after.active);
}

TEST_CASE("a report with a held request is pushed as true on the open StreamIsActive at once") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaClient keda(two_triggers(scaler.keda_address()));
  keda.start_streams();
  REQUIRE(eventually([&] { return scaler.server->hub().subscriptions() == 2; }));
  // Idle: nothing is sent (KEDA >= 2.18 ignores false anyway; we send none).
  scaler.server->maintenance_tick();
  FakeProxy proxy(scaler.ingest_channel(), "proxy-1", 7);
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("demo/web", "web-stable");
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  CHECK(keda.count(StreamEvent::kActive, 0) == 0);
  // A request is held for the cold backend: the proxy reports at once.
  proxy.gauges(id, 0, 1);
  const auto sent = std::chrono::steady_clock::now();
  proxy.flush(/*urgent=*/true);
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        int n = 0;
        for (const auto& e : ev) n += e.kind == StreamEvent::kActive ? 1 : 0;
        return n == 2;
      },
      5s));
  const auto events = keda.events();
  for (const auto& e : events) {
    if (e.kind == StreamEvent::kActive) {
      MESSAGE("activation latency: ",
              std::chrono::duration<double, std::milli>(e.at - sent).count(), " ms");
    }
  }
  // While active: more reports, ticks, no second true.
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    proxy.count(id, 3);
    proxy.gauges(id, 1, 0);
    REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
    scaler.server->maintenance_tick();
  }
  CHECK(keda.count(StreamEvent::kActive, 0) == 1);
  CHECK(keda.count(StreamEvent::kActive, 1) == 1);
  // Idle again (window and gauges empty), then a new request: a new edge on both.
  proxy.gauges(id, 0, 0);
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  clock.advance(15s);
  scaler.server->maintenance_tick();
  REQUIRE(eventually([&] { return scaler.server->aggregator().find_route("demo/web")->armed(); }));
  // The tick only wakes the hub's thread, and a round already under way may have read the route
  // before the clock moved. One round on this thread reads it idle for sure, so the next report
  // is a real idle -> active edge (the hub announces edges it has seen, nothing else).
  scaler.server->hub().evaluate(true);
  proxy.count(id, 1);
  proxy.gauges(id, 1, 0);
  proxy.flush();
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        int n = 0;
        for (const auto& e : ev) n += e.kind == StreamEvent::kActive ? 1 : 0;
        return n == 4;
      },
      5s));
  CHECK(keda.poll().active);
}

TEST_CASE("bad trigger metadata is INVALID_ARGUMENT naming key, value and rule, on every RPC") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaOptions o = two_triggers(scaler.keda_address());
  o.triggers = {{{{"hosts", "web.example.com"}, {"targetValue", "10"}, {"window", "90s"},
                  {"granularity", "1m"}}}};
  KedaClient keda(o);
  auto expect_invalid = [](const grpc::Status& s) {
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message() ==
          "trigger metadata \"window\" = \"90s\": must be a multiple of the granularity (1m)");
  };
  expect_invalid(keda.reconcile());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::IsActiveResponse resp;
    expect_invalid(keda.stub().IsActive(&ctx, keda.ref(0), &resp));
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = keda.ref(0);
    es::GetMetricsResponse resp;
    expect_invalid(keda.stub().GetMetrics(&ctx, req, &resp));
  }
  keda.start_streams();
  REQUIRE(keda.wait_for([](const auto& ev) { return !ev.empty(); }, 5s));
  const auto ev = keda.events().at(0);
  CHECK(ev.kind == StreamEvent::kEnded);
  CHECK(ev.status == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(ev.message.find("\"window\"") != std::string::npos);
  keda.stop_streams();
  // A metric name the trigger does not serve.
  KedaClient good(two_triggers(scaler.keda_address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  es::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = good.ref(0);
  req.set_metricname("lockstep-concurrency-demo-web");
  es::GetMetricsResponse resp;
  const auto s = good.stub().GetMetrics(&ctx, req, &resp);
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(s.error_message().find("lockstep-requestrate-demo-web") != std::string::npos);
  // The scaler keeps serving.
  CHECK(good.reconcile().ok());
}

TEST_CASE("ingest: a stream without hello, a bad hello, an oversized report end with a named error") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.ingest.max_entries_per_report = 3;
  config.ingest.max_message_bytes = 64 << 10;
  test::Scaler scaler(clock, config);
  {
    FakeProxy p(scaler.ingest_channel(), "p", 1);
    lockstep::v1::ReportRequest first;
    first.mutable_report()->set_seq(1);
    p.connect_raw(first);
    auto end = p.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(end->error_message() == "hello: the first message of a stream must carry hello");
  }
  {
    FakeProxy p(scaler.ingest_channel(), "bad id/", 1);
    p.connect();
    auto end = p.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(end->error_message().find("hello.proxy_id") == 0);
  }
  {
    FakeProxy p(scaler.ingest_channel(), "p", 1);
    REQUIRE(p.connect());
    for (int i = 0; i < 4; ++i) p.define("demo/web", "b" + std::to_string(i));
    p.flush();
    auto end = p.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(end->error_message().find("ingest.max_entries_per_report") != std::string::npos);
  }
  {
    FakeProxy p(scaler.ingest_channel(), "p", 1);
    REQUIRE(p.connect());
    lockstep::v1::Report big;
    big.set_seq(1);
    auto* d = big.add_defs();
    d->set_id(1);
    d->set_route("demo/" + std::string(100'000, 'a'));
    p.send(big);
    auto end = p.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // Rejects per entry do not end the stream.
  FakeProxy p(scaler.ingest_channel(), "p", 2);
  REQUIRE(p.connect());
  lockstep::v1::Report r;
  r.set_seq(p.next_seq());
  auto* d = r.add_defs();
  d->set_id(1);
  d->set_route("demo/web");
  d->set_backend("Web!");
  auto* x = r.add_samples();
  x->set_id(9);
  x->set_requests(1);
  REQUIRE(p.send(r));
  REQUIRE(p.wait_ack(1, 5s));
  const auto ack = p.acks().back();
  REQUIRE(ack.rejects_size() == 2);
  CHECK(ack.rejects(0).reason() == lockstep::v1::Reject::MALFORMED_BACKEND);
  CHECK(ack.rejects(1).reason() == lockstep::v1::Reject::UNKNOWN_SERIES_ID);
  const uint32_t id = p.define("demo/web", "web");
  p.count(id, 5);
  REQUIRE(p.wait_ack(p.flush(), 5s));
  auto route = scaler.server->aggregator().find_route("demo/web");
  REQUIRE(route);
  CHECK(route->requests_total() == 5);
  CHECK_FALSE(p.wait_end(50ms).has_value());
}

// Apply threads' scheduling, read back from the kernel.
std::vector<std::pair<int, int>> apply_thread_scheduling(test::Scaler& scaler, size_t threads) {
  std::vector<int> tids;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((tids = scaler.server->ingest().apply_thread_ids()).size() < threads &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  std::vector<std::pair<int, int>> out;  // (policy, nice)
  for (int tid : tids) {
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    REQUIRE(errno == 0);
    out.emplace_back(sched_getscheduler(tid), nice);
  }
  return out;
}

TEST_CASE("bulk apply threads run under SCHED_IDLE by default, batch and normal at a nice value") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.ingest.apply_threads = 2;
  {
    test::Scaler scaler(clock, config);
    const auto sched = apply_thread_scheduling(scaler, 2);
    REQUIRE(sched.size() == 2);
    for (const auto& [policy, nice] : sched) CHECK(policy == SCHED_IDLE);
  }
  {
    config.ingest.apply_policy = "batch";
    test::Scaler scaler(clock, config);
    const auto sched = apply_thread_scheduling(scaler, 2);
    REQUIRE(sched.size() == 2);
    for (const auto& [policy, nice] : sched) {
      CHECK(policy == SCHED_BATCH);
      CHECK(nice == 19);
    }
  }
  config.ingest.apply_policy = "normal";
  // Unprivileged, a thread cannot go below the process' own nice (a test run under `nice`).
  const int nice = std::max(7, getpriority(PRIO_PROCESS, 0));
  config.ingest.apply_nice = nice;
  test::Scaler scaler(clock, config);
  const auto sched = apply_thread_scheduling(scaler, 2);
  REQUIRE(sched.size() == 2);
  for (const auto& [policy, thread_nice] : sched) {
    CHECK(policy == SCHED_OTHER);
    CHECK(thread_nice == nice);
  }
}

TEST_CASE("reports through the apply pool: in order, acked, applied before a half-close ends") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.ingest.inline_apply_bytes = 0;  // every report goes through the pool
  config.ingest.apply_threads = 2;
  test::Scaler scaler(clock, config);
  FakeProxy p(scaler.ingest_channel(), "proxy-1", 1);
  REQUIRE(p.connect());
  std::vector<uint32_t> ids;
  // 50 distinct series: 5 routes x 10 backends.
  for (int i = 0; i < 50; ++i) {
    ids.push_back(p.define("demo/web-" + std::to_string(i % 5), "b" + std::to_string(i / 5)));
  }
  uint64_t last = 0;
  for (int round = 0; round < 200; ++round) {  // sent without waiting for acks
    for (uint32_t id : ids) p.count(id, 1);
    last = p.flush();
  }
  REQUIRE(p.wait_ack(last, 10s));
  auto route = scaler.server->aggregator().find_route("demo/web-3");
  REQUIRE(route);
  CHECK(route->requests_total() == 200u * 10u);
  // Acks are cumulative and never go backwards.
  uint64_t prev = 0;
  for (const auto& a : p.acks()) {
    CHECK(a.acked_seq() >= prev);
    prev = a.acked_seq();
  }
  // Queued reports are applied before the stream ends on a half-close.
  for (uint32_t id : ids) p.count(id, 2);
  p.flush();
  CHECK(p.close().ok());
  CHECK(route->requests_total() == 202u * 10u);
}

TEST_CASE("shutdown ends every KEDA and proxy stream with OK") {
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaOptions o = two_triggers(scaler.keda_address());
  o.stream_metric_spec = true;
  o.stream_backoff_base = 10s;  // no reconnect during the test
  KedaClient keda(o);
  keda.start_streams();
  REQUIRE(eventually([&] { return scaler.server->hub().subscriptions() == 2; }));
  // StreamMetricSpec sends the current spec at once.
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        int n = 0;
        for (const auto& e : ev) n += e.kind == StreamEvent::kSpec ? 1 : 0;
        return n == 2;
      },
      5s));
  for (const auto& e : keda.events()) {
    if (e.kind == StreamEvent::kSpec && e.trigger == 1) {
      CHECK(e.specs.at(0).name == "lockstep-concurrency-demo-web");
      CHECK(e.specs.at(0).target == 2.5);
    }
  }
  FakeProxy proxy(scaler.ingest_channel(), "proxy-1", 1);
  REQUIRE(proxy.connect());
  proxy.define("demo/web", "web");
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  scaler.server->stop();
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        int n = 0;
        for (const auto& e : ev) {
          n += (e.kind == StreamEvent::kEnded || e.kind == StreamEvent::kSpecEnded) ? 1 : 0;
        }
        return n == 4;
      },
      5s));
  for (const auto& e : keda.events()) {
    if (e.kind == StreamEvent::kEnded || e.kind == StreamEvent::kSpecEnded) {
      CHECK(e.status == grpc::StatusCode::OK);
    }
  }
  auto end = proxy.wait_end(5s);
  REQUIRE(end.has_value());
  CHECK(end->ok());
  // An OK end resets KEDA's retry delay to the base.
  CHECK(keda.backoffs(0).at(0) == 10s);
}

TEST_CASE("KEDA reconnects after the scaler restarts, and activation works again") {
  ManualClock clock;
  auto first = std::make_unique<test::Scaler>(clock);
  const int port = first->server->keda_port();
  KedaClient keda(two_triggers(first->keda_address()));
  keda.start_streams();
  REQUIRE(eventually([&] { return first->server->hub().subscriptions() == 2; }));
  REQUIRE(keda.reconcile().ok());
  first.reset();  // stops: streams end with OK
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        int n = 0;
        for (const auto& e : ev) n += e.kind == StreamEvent::kEnded ? 1 : 0;
        return n >= 2;
      },
      5s));
  // While it is down, KEDA's attempts fail and its delay grows (50, 100, 200 ms ...).
  std::this_thread::sleep_for(300ms);
  ScalerConfig again = test::loopback_config();
  again.keda.listen = again.ingest.listen = "127.0.0.1:" + std::to_string(port);
  test::Scaler second(clock, again);
  REQUIRE(eventually([&] { return second.server->hub().subscriptions() == 2; }, 10s));
  CHECK(keda.reconcile().ok());
  const auto delays = keda.backoffs(0);
  REQUIRE(delays.size() >= 2);
  CHECK(delays[0] == 50ms);  // after the OK end
  CHECK(delays[1] > 50ms);   // after failed attempts
  FakeProxy proxy(second.ingest_channel(), "proxy-1", 1);
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("demo/web", "web");
  proxy.gauges(id, 0, 1);
  proxy.flush(true);
  REQUIRE(keda.wait_for(
      [](const auto& ev) {
        for (const auto& e : ev) {
          if (e.kind == StreamEvent::kActive) return true;
        }
        return false;
      },
      5s));
}

TEST_CASE("many StreamIsActive streams multiplexed on one connection each get one true, then OK") {
  // KEDA keeps one stream per external-push trigger, all on one HTTP/2 connection per scaler
  // address; its own test drives 2,500 of them. 200 distinct triggers of one route here.
  ManualClock clock;
  test::Scaler scaler(clock);
  KedaOptions o = two_triggers(scaler.keda_address());
  o.triggers.clear();
  constexpr int kStreams = 200;
  for (int i = 0; i < kStreams; ++i) {
    o.triggers.push_back({{{"hosts", "web.example.com"},
                           {"targetValue", "10"},
                           {"activationValue", std::to_string(1000 + i)}}});
  }
  o.stream_backoff_base = 10s;  // an end is final within the test
  KedaClient keda(o);
  keda.start_streams();
  REQUIRE(eventually([&] { return scaler.server->hub().subscriptions() == kStreams; }, 20s));
  FakeProxy proxy(scaler.ingest_channel(), "proxy-1", 1);
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("demo/web", "web");
  proxy.gauges(id, 0, 1);  // a held request activates whatever activationValue says
  proxy.flush(/*urgent=*/true);
  auto count = [](const std::vector<StreamEvent>& ev, StreamEvent::Kind kind) {
    int n = 0;
    for (const auto& e : ev) n += e.kind == kind ? 1 : 0;
    return n;
  };
  REQUIRE(keda.wait_for([&](const auto& ev) { return count(ev, StreamEvent::kActive) == kStreams; },
                        20s));
  for (int i = 0; i < kStreams; ++i) CHECK(keda.count(StreamEvent::kActive, i) == 1);
  scaler.server->stop();
  REQUIRE(keda.wait_for([&](const auto& ev) { return count(ev, StreamEvent::kEnded) == kStreams; },
                        20s));
  for (const auto& e : keda.events()) {
    if (e.kind == StreamEvent::kEnded) CHECK(e.status == grpc::StatusCode::OK);
  }
  keda.stop_streams();
}

TEST_CASE("KEDA and ingest on separate listeners, the gRPC health service reports SERVING") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.ingest.listen = "127.0.0.2:0";
  test::Scaler scaler(clock, config);
  CHECK(scaler.server->keda_port() != scaler.server->ingest_port());
  auto keda_channel = grpc::CreateChannel(scaler.keda_address(), grpc::InsecureChannelCredentials());
  // The ingest service is not on the KEDA port.
  {
    FakeProxy p(keda_channel, "p", 1);
    p.connect();
    auto end = p.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::UNIMPLEMENTED);
  }
  FakeProxy p(grpc::CreateChannel("127.0.0.2:" + std::to_string(scaler.server->ingest_port()),
                                  grpc::InsecureChannelCredentials()),
              "p", 1);
  REQUIRE(p.connect());
  p.define("demo/web", "web");
  REQUIRE(p.wait_ack(p.flush(), 5s));
  // grpc.health.v1.Health/Check with the empty service name, as a raw unary call.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  grpc::GenericStub generic(keda_channel);
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1);  // HealthCheckRequest{} encodes to nothing
  grpc::ByteBuffer response;
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      done = true;
                      cv.notify_all();
                    });
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, 5s, [&] { return done; }));
  REQUIRE(status.ok());
  std::vector<grpc::Slice> slices;
  REQUIRE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  CHECK(bytes == std::string("\x08\x01", 2));  // status: SERVING
}

}  // namespace
}  // namespace lockstep::scaler
