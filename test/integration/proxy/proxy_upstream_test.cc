// lockstep-proxy end to end on loopback, the parts around the happy path: endpoint choice,
// stale pooled connections, every timeout and limit, additional destinations, a refused route
// table, and replicas found by DNS.
#include <doctest/doctest.h>

#include <boost/asio/write.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "test/integration/proxy/proxy_test_support.h"

namespace lockstep::proxy::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

v1::RouteTable pool_route(uint64_t version, const std::string& host, std::vector<uint16_t> ports) {
  v1::RouteTable t;
  t.set_version(version);
  add_backend(add_route(t, "ns/pool", {host}), "pool", 100, v1::ROLE_STABLE, std::move(ports));
  return t;
}

// Advances the clock in steps and runs the sweep until `done` holds (the session may not have
// armed its deadline yet when the first step lands).
template <typename Future>
bool advance_until_ready(ManualClock& clock, ProxyHarness& proxy, Future& f,
                         std::chrono::nanoseconds step) {
  for (int i = 0; i < 50; ++i) {
    clock.advance(step);
    proxy.sweep();
    if (f.wait_for(milliseconds(100)) == std::future_status::ready) return true;
  }
  return false;
}

TEST_CASE("a pooled connection the upstream closed is never used: GET is resent POST gets a fresh one") {
  ManualClock clock;
  TestBackend backend("keepalive");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) { s.workers = 1; });
  scaler.set_table(pool_route(1, "ka.example.com", {backend.port()}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());

  // The upstream closes right after answering (its keep-alive timeout); the proxy pooled it.
  REQUIRE(c.get("ka.example.com", "/reply-then-close").status == 200);
  REQUIRE(wait_until([&] { return backend.closed_after_reply() == 1; }));
  // Within one clock tick the pool does not peek: the GET fails on the dead connection before
  // any response byte and is sent again on a new one, invisibly to the client.
  auto again = c.get("ka.example.com", "/");
  CHECK(again.status == 200);
  CHECK(backend.connections() == 2);

  REQUIRE(c.get("ka.example.com", "/reply-then-close").status == 200);
  REQUIRE(wait_until([&] { return backend.closed_after_reply() == 2; }));
  // Pooled (the idle gauge) before the clock moves, so it was pooled in the earlier tick.
  REQUIRE(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_upstream_connections",
                        {{"state", "idle"}}) == 1;
  }));
  // A tick later the pool checks the idle connection before use, so even a POST (never resent)
  // goes out on a live connection.
  clock.advance(seconds(1));
  proxy.sweep();
  auto post = c.request("POST", "ka.example.com", "/upload", {}, "abc");
  CHECK(post.status == 200);
  CHECK(post.body == "bytes=3 sum=294");
  CHECK(backend.connections() == 3);
  const std::string m = proxy.metrics_text();
  CHECK(metric_value(m, "lockstep_proxy_upstream_stale_connections_total") == 1);
  // Neither the resend nor the discarded connection is an upstream error.
  CHECK(metric_value(m, "lockstep_proxy_upstream_errors_total",
                     {{"namespace", "ns"}, {"route", "pool"}, {"backend", "pool"},
                      {"reason", "reset"}}) == -1);
  CHECK(c.connects() == 1);
}

TEST_CASE("endpoint choice: round-robin alternates exactly") {
  ManualClock clock;
  TestBackend e1("e1"), e2("e2");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.endpoint_pick = EndpointPick::kRoundRobin;
  });
  scaler.set_table(pool_route(1, "rr.example.com", {e1.port(), e2.port()}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  std::string last;
  int alternations = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = c.get("rr.example.com", "/");
    REQUIRE(r.status == 200);
    alternations += r.headers["x-backend"] != last ? 1 : 0;
    last = r.headers["x-backend"];
  }
  CHECK(alternations == 20);
  CHECK(e1.requests() == 10);
  CHECK(e2.requests() == 10);
}

TEST_CASE("endpoint choice: least outstanding of two avoids a busy endpoint") {
  ManualClock clock;
  TestBackend e1("e1"), e2("e2");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.workers = 1;  // outstanding counts are per worker
    s.timeouts.response = seconds(5);
  });
  scaler.set_table(pool_route(1, "p2c.example.com", {e1.port(), e2.port()}));
  REQUIRE(proxy.wait_applied(1));
  auto busy = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("p2c.example.com", "/hang");
  });
  REQUIRE(wait_until([&] { return e1.hanging() + e2.hanging() == 1; }));
  TestBackend& idle = e1.hanging() == 1 ? e2 : e1;
  TestClient c(proxy.port());
  for (int i = 0; i < 20; ++i) {
    auto r = c.get("p2c.example.com", "/");
    REQUIRE(r.status == 200);
    CHECK(r.headers["x-backend"] == idle.name());
  }
  CHECK(idle.requests() == 20);
  clock.advance(seconds(6));
  proxy.sweep();
  CHECK(busy.get().status == 504);
}

TEST_CASE("a connect timeout moves the request to the next endpoint") {
  ManualClock clock;
  TestBackend live("live");
  // An endpoint that never completes a handshake: a listener with a full accept queue drops
  // further SYNs, so a connect to it waits until timeouts.connect.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor blackhole(io);
  const boost::asio::ip::tcp::endpoint at(boost::asio::ip::make_address("127.0.0.1"), 0);
  blackhole.open(at.protocol());
  blackhole.bind(at);
  blackhole.listen(0);
  boost::asio::ip::tcp::socket filler(io);
  filler.connect(blackhole.local_endpoint());
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.endpoint_pick = EndpointPick::kRoundRobin;  // the first request tries the black hole first
    s.timeouts.connect = seconds(2);
  });
  scaler.set_table(pool_route(1, "ct.example.com", {blackhole.local_endpoint().port(), live.port()}));
  REQUIRE(proxy.wait_applied(1));
  auto r = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("ct.example.com", "/");
  });
  REQUIRE(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_in_flight",
                        {{"namespace", "ns"}, {"route", "pool"}, {"backend", "pool"}}) == 1;
  }));
  CHECK(r.wait_for(milliseconds(50)) == std::future_status::timeout);
  REQUIRE(advance_until_ready(clock, proxy, r, seconds(3)));
  auto res = r.get();
  CHECK(res.status == 200);
  CHECK(res.headers["x-backend"] == "live");
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_upstream_errors_total",
                     {{"namespace", "ns"}, {"route", "pool"}, {"backend", "pool"},
                      {"reason", "connect_timeout"}}) == 1);
}

TEST_CASE("timeouts and limits: header read 408 - idle keep-alive closed - body over the limit 413") {
  ManualClock clock;
  TestBackend backend("limits");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.timeouts.header_read = seconds(10);
    s.timeouts.idle = seconds(100);
    s.limits.max_body_bytes = 1024;
  });
  scaler.set_table(pool_route(1, "lim.example.com", {backend.port()}));
  REQUIRE(proxy.wait_applied(1));

  SUBCASE("a head not complete within timeouts.headerRead gets 408 and a close") {
    TestClient c(proxy.port());
    // One full request and the start of a second: the first answer shows the proxy is reading.
    auto first = c.raw("GET / HTTP/1.1\r\nHost: lim.example.com\r\n\r\nGET / HTTP/1.1\r\nHost: li");
    REQUIRE(first.status == 200);
    auto second = std::async(std::launch::async, [&] { return c.raw(""); });
    CHECK(second.wait_for(milliseconds(50)) == std::future_status::timeout);
    REQUIRE(advance_until_ready(clock, proxy, second, seconds(11)));
    auto r = second.get();
    CHECK(r.status == 408);
    CHECK_FALSE(r.keep_alive);
    CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_request_rejects_total",
                       {{"reason", "header_timeout"}}) == 1);
  }
  SUBCASE("a keep-alive connection idle for timeouts.idle is closed") {
    TestClient c(proxy.port());
    REQUIRE(c.get("lim.example.com", "/").status == 200);
    clock.advance(seconds(50));
    proxy.sweep();
    CHECK_FALSE(wait_until([&] { return proxy.server().open_sessions() == 0; }, milliseconds(200)));
    // The idle deadline may have been set after the first step (the sweep can run before the
    // write completes), so step on until it closes: at most two more steps.
    bool closed = false;
    for (int i = 0; i < 3 && !closed; ++i) {
      clock.advance(seconds(51));
      proxy.sweep();
      closed = wait_until([&] { return proxy.server().open_sessions() == 0; }, milliseconds(500));
    }
    CHECK(closed);
    CHECK(c.raw("").status == 0);
  }
  SUBCASE("a body over limits.maxBodyBytes gets 413: announced or found while streaming") {
    TestClient c(proxy.port());
    auto announced = c.raw("POST /upload HTTP/1.1\r\nHost: lim.example.com\r\nContent-Length: 2048\r\n\r\n");
    CHECK(announced.status == 413);
    CHECK_FALSE(announced.keep_alive);
    TestClient chunked(proxy.port());
    auto streamed = chunked.upload("lim.example.com", "/upload", 4096, true);
    CHECK(streamed.status == 413);
    TestClient small(proxy.port());
    CHECK(small.upload("lim.example.com", "/upload", 1024, true).status == 200);
    CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_request_rejects_total",
                       {{"reason", "body_too_large"}}) == 2);
  }
}

TEST_CASE("cold start: a held request whose client hung up frees its slot at once") {
  SystemClock clock;
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.limits.max_pending_requests = 1;
    s.timeouts.cold_start = seconds(60);
  });
  scaler.set_table(pool_route(1, "gone.example.com", {}));
  REQUIRE(proxy.wait_applied(1));
  auto held = [&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_held_requests",
                        {{"namespace", "ns"}, {"route", "pool"}});
  };
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), proxy.port()});
    const std::string req = "GET / HTTP/1.1\r\nHost: gone.example.com\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(req));
    REQUIRE(wait_until([&] { return held() == 1; }));
    REQUIRE(wait_until([&] { return scaler.held("ns/pool", "pool") == 1; }));
  }  // the client hangs up while its request is held
  // Found by the next sweep (20 ms here), long before coldStartTimeout.
  CHECK(wait_until([&] { return held() == 0; }, seconds(5)));
  CHECK(wait_until([&] { return scaler.held("ns/pool", "pool") == 0; }));
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_requests_total",
                     {{"namespace", "ns"}, {"route", "pool"}, {"backend", "pool"},
                      {"code", "499"}}) == 1);
  // The slot is free again: the next request is held, not refused with 503.
  auto next = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("gone.example.com", "/");
  });
  REQUIRE(wait_until([&] { return held() == 1; }));
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_queue_full_total",
                     {{"namespace", "ns"}, {"route", "pool"}}) == 0);
  TestBackend backend("late");
  scaler.set_table(pool_route(2, "gone.example.com", {backend.port()}));
  CHECK(next.get().status == 200);
}

TEST_CASE("additional destinations: 60/30/10 is exact in every 10 consecutive requests") {
  SystemClock clock;
  TestBackend stable("s"), canary("c"), extra("x");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  v1::RouteTable t;
  t.set_version(4);
  auto* r = add_route(t, "ns/three", {"three.example.com"});
  add_backend(r, "s", 60, v1::ROLE_STABLE, {stable.port()});
  add_backend(r, "c", 30, v1::ROLE_CANARY, {canary.port()});
  add_backend(r, "x", 10, v1::ROLE_OTHER, {extra.port()});
  scaler.set_table(t);
  REQUIRE(proxy.wait_applied(4));
  TestClient c(proxy.port());
  std::map<std::string, int> window;
  for (int i = 1; i <= 100; ++i) {
    ++window[c.get("three.example.com", "/").headers["x-backend"]];
    if (i % 10 == 0) {
      CHECK(window["s"] == 6);
      CHECK(window["c"] == 3);
      CHECK(window["x"] == 1);
      window.clear();
    }
  }
  CHECK(wait_until([&] {
    return scaler.counted("ns/three", "s") == 60 && scaler.counted("ns/three", "c") == 30 &&
           scaler.counted("ns/three", "x") == 10;
  }));
}

TEST_CASE("a refused route table keeps the last good one - replicas found by scalerDns") {
  SystemClock clock;
  TestBackend backend("dns");
  FakeScaler scaler;
  ProxyHarness proxy({}, clock, [&](ProxySettings& s) {
    s.scalers.clear();
    s.scaler_dns = "localhost:" + std::to_string(scaler.port());
  });
  scaler.set_table(pool_route(7, "dns.example.com", {backend.port()}));
  REQUIRE(proxy.wait_applied(7));
  REQUIRE(wait_until([&] { return proxy.reporter().healthy_count() >= 1; }));
  const std::string replica = "127.0.0.1:" + std::to_string(scaler.port());
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_scaler_connected",
                     {{"scaler", replica}}) == 1);

  v1::RouteTable bad;  // version 0: refused whole
  bad.set_version(0);
  scaler.set_table(bad);
  REQUIRE(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_route_tables_total",
                        {{"result", "refused"}}) == 1;
  }));
  TestClient c(proxy.port());
  for (int i = 0; i < 10; ++i) REQUIRE(c.get("dns.example.com", "/").status == 200);
  CHECK(proxy.server().applied_version() == 7);
  CHECK(wait_until([&] { return scaler.counted("ns/pool", "pool") == 10; }));
  CHECK(scaler.last_route_table_version() == 7);
}

// scalerDns is re-resolved every scalerResolveInterval. A hosts-file stand-in (injected lookup)
// moves the name from one replica to another, as a scaler StatefulSet's pods get new IPs.
class HostsTable {
 public:
  void set(std::vector<std::string> ips) {
    std::lock_guard lock(mu_);
    ips_ = std::move(ips);
    failing_ = false;
  }
  void fail() {
    std::lock_guard lock(mu_);
    failing_ = true;
  }
  int lookups() const { return lookups_.load(); }
  Reporter::ScalerLookup lookup(std::string name) {
    return [this, name = std::move(name)](const std::string& host, const std::string& port,
                                          std::vector<boost::asio::ip::tcp::endpoint>& out) {
      ++lookups_;
      std::lock_guard lock(mu_);
      if (host != name || failing_) return make_error_code(boost::asio::error::host_not_found);
      for (const auto& ip : ips_) {
        out.emplace_back(boost::asio::ip::make_address(ip), static_cast<uint16_t>(std::stoi(port)));
      }
      return boost::system::error_code();
    };
  }

 private:
  std::mutex mu_;  // guards ips_ and failing_
  std::vector<std::string> ips_;
  bool failing_ = false;
  std::atomic<int> lookups_{0};
};

TEST_CASE("scalerDns re-resolved to a new address - the reporter moves to it, drops the old one and loses no count") {
  SystemClock clock;
  TestBackend backend("moved");
  FakeScaler old_replica(0, nullptr, nullptr, "127.0.0.2");
  FakeScaler new_replica(old_replica.port(), nullptr, nullptr, "127.0.0.3");
  REQUIRE(new_replica.port() == old_replica.port());
  const auto table = pool_route(5, "moved.example.com", {backend.port()});
  old_replica.set_table(table);
  new_replica.set_table(table);
  HostsTable hosts;
  hosts.set({"127.0.0.2"});
  ProxyHarness proxy(
      {}, clock,
      [&](ProxySettings& s) {
        s.scalers.clear();
        s.scaler_dns = "scalers.test:" + std::to_string(old_replica.port());
        s.scaler_resolve_interval = milliseconds(100);
      },
      hosts.lookup("scalers.test"));
  REQUIRE(proxy.wait_applied(5));
  REQUIRE(wait_until([&] { return proxy.reporter().healthy_count() == 1; }));

  TestClient c(proxy.port());
  for (int i = 0; i < 25; ++i) REQUIRE(c.get("moved.example.com", "/").status == 200);
  REQUIRE(wait_until([&] { return old_replica.counted("ns/pool", "pool") == 25; }));
  CHECK(new_replica.report_streams_opened() == 0);

  hosts.set({"127.0.0.3"});
  REQUIRE(wait_until([&] {
    const auto s = proxy.reporter().scalers();
    return s.size() == 1 && s[0].name == new_replica.address() && s[0].healthy;
  }));
  // The old replica's stream has ended and its series is gone from /metrics.
  REQUIRE(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_scaler_connected",
                        {{"scaler", old_replica.address()}}) == -1;
  }));
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_scaler_connected",
                     {{"scaler", new_replica.address()}}) == 1);
  const uint64_t old_reports = old_replica.reports();

  for (int i = 0; i < 15; ++i) REQUIRE(c.get("moved.example.com", "/").status == 200);
  // The new replica has every request: the 25 served before the move came with the history
  // replayed when its stream opened.
  CHECK(wait_until([&] { return new_replica.counted("ns/pool", "pool") == 40; }));
  CHECK(old_replica.counted("ns/pool", "pool") == 25);
  CHECK(old_replica.reports() == old_reports);

  // A lookup that fails keeps the replicas from the last good one.
  hosts.fail();
  const int before = hosts.lookups();
  REQUIRE(wait_until([&] { return hosts.lookups() >= before + 2; }));
  for (int i = 0; i < 5; ++i) REQUIRE(c.get("moved.example.com", "/").status == 200);
  CHECK(wait_until([&] { return new_replica.counted("ns/pool", "pool") == 45; }));
  const auto s = proxy.reporter().scalers();
  REQUIRE(s.size() == 1);
  CHECK(s[0].name == new_replica.address());
}

}  // namespace
}  // namespace lockstep::proxy::testing
