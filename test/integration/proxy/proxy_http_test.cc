// lockstep-proxy end to end on loopback: real backends, the real proxy workers, reporter and
// route subscriber, and a fake scaler speaking real gRPC.
#include <doctest/doctest.h>

#include <fstream>
#include <future>
#include <thread>

#include "test/integration/proxy/proxy_test_support.h"

namespace lockstep::proxy::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

v1::RouteTable one_route(uint64_t version, const std::string& key, const std::string& host,
                         std::vector<std::tuple<std::string, uint32_t, v1::Role, std::vector<uint16_t>>> backends) {
  v1::RouteTable t;
  t.set_version(version);
  auto* r = add_route(t, key, {host});
  for (auto& [name, weight, role, ports] : backends) add_backend(r, name, weight, role, ports);
  return t;
}

// Peak resident memory of this process since the last reset, in bytes.
uint64_t status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  }
  return 0;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out);
}

TEST_CASE("a 20/80 split is exact over 1000 requests and every request is reported") {
  SystemClock clock;
  TestBackend stable("app-stable"), canary("app-canary");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(11, "shop/app", "app.example.com",
                             {{"app-stable", 80, v1::ROLE_STABLE, {stable.port()}},
                              {"app-canary", 20, v1::ROLE_CANARY, {canary.port()}}}));
  REQUIRE(proxy.wait_applied(11));

  std::atomic<int> to_canary{0}, to_stable{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      TestClient client(proxy.port());
      for (int i = 0; i < 250; ++i) {
        auto r = client.get("app.example.com", "/items");
        if (r.status != 200) {
          ++failed;
        } else if (r.headers["x-backend"] == "app-canary") {
          ++to_canary;
        } else {
          ++to_stable;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(failed == 0);
  CHECK(to_canary == 200);
  CHECK(to_stable == 800);
  // The scaler counts exactly what was served, per backend.
  CHECK(wait_until([&] {
    return scaler.counted("shop/app", "app-canary") == 200 &&
           scaler.counted("shop/app", "app-stable") == 800;
  }));
  CHECK(scaler.last_route_table_version() == 11);
  const std::string m = proxy.metrics_text();
  CHECK(metric_value(m, "lockstep_proxy_requests_total",
                     {{"namespace", "shop"}, {"route", "app"}, {"backend", "app-canary"},
                      {"code", "200"}}) == 200);
  CHECK(metric_value(m, "lockstep_proxy_routed_requests_total",
                     {{"namespace", "shop"}, {"route", "app"}, {"backend", "app-stable"},
                      {"role", "stable"}}) == 800);
}

TEST_CASE("header routes send matching requests to their backend before the split") {
  SystemClock clock;
  TestBackend stable("web-stable"), canary("web-canary");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  auto t = one_route(5, "shop/web", "web.example.com",
                     {{"web-stable", 100, v1::ROLE_STABLE, {stable.port()}},
                      {"web-canary", 0, v1::ROLE_CANARY, {canary.port()}}});
  auto* hr = t.mutable_routes(0)->add_header_routes();
  hr->set_name("testers");
  hr->set_service("web-canary");
  auto* m = hr->add_matches();
  m->set_header("x-tester");
  m->set_kind(v1::MATCH_KIND_EXACT);
  m->set_value("yes");
  scaler.set_table(t);
  REQUIRE(proxy.wait_applied(5));
  TestClient client(proxy.port());
  for (int i = 0; i < 20; ++i) {
    auto r = client.request("GET", "web.example.com", "/", {{"X-Tester", "yes"}});
    CHECK(r.headers["x-backend"] == "web-canary");
    auto plain = client.get("web.example.com", "/");
    CHECK(plain.headers["x-backend"] == "web-stable");
    auto other = client.request("GET", "web.example.com", "/", {{"X-Tester", "no"}});
    CHECK(other.headers["x-backend"] == "web-stable");
  }
}

TEST_CASE("host and prefix precedence: exact host wildcard longest prefix unmatched 404") {
  SystemClock clock;
  TestBackend root("root"), api("api"), wild("wild"), any("any");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  v1::RouteTable t;
  t.set_version(3);
  add_backend(add_route(t, "ns/root", {"shop.example.com"}, {"/"}), "root", 100, v1::ROLE_STABLE,
              {root.port()});
  add_backend(add_route(t, "ns/api", {"shop.example.com"}, {"/api"}), "api", 100, v1::ROLE_STABLE,
              {api.port()});
  add_backend(add_route(t, "ns/wild", {"*.example.com"}, {"/"}), "wild", 100, v1::ROLE_STABLE,
              {wild.port()});
  add_backend(add_route(t, "ns/any", {}, {"/static"}), "any", 100, v1::ROLE_STABLE, {any.port()});
  scaler.set_table(t);
  REQUIRE(proxy.wait_applied(3));
  TestClient c(proxy.port());
  CHECK(c.get("shop.example.com", "/").headers["x-backend"] == "root");
  CHECK(c.get("SHOP.example.com:8080", "/api/v1/items?x=1").headers["x-backend"] == "api");
  CHECK(c.get("shop.example.com", "/apis").headers["x-backend"] == "root");
  CHECK(c.get("cart.example.com", "/api").headers["x-backend"] == "wild");
  CHECK(c.get("elsewhere.org", "/static/app.js").headers["x-backend"] == "any");
  auto miss = c.get("elsewhere.org", "/home");
  CHECK(miss.status == 404);
  CHECK(miss.keep_alive);
  // The connection survives the 404: the next request on it works.
  CHECK(c.get("shop.example.com", "/").status == 200);
  CHECK(c.connects() == 1);
  // Unmatched requests are counted under one bounded key, never by their Host.
  const std::string m = proxy.metrics_text();
  CHECK(metric_value(m, "lockstep_proxy_requests_total",
                     {{"namespace", ""}, {"route", "unmatched"}, {"backend", ""}, {"code", "404"}}) ==
        1);
  CHECK(m.find("elsewhere.org") == std::string::npos);
}

TEST_CASE("keep-alive: one client connection and one upstream connection serve 100 requests") {
  SystemClock clock;
  TestBackend backend("solo");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/solo", "solo.example.com",
                             {{"solo", 100, v1::ROLE_STABLE, {backend.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  for (int i = 0; i < 100; ++i) {
    auto r = c.get("solo.example.com", "/");
    REQUIRE(r.status == 200);
    CHECK(r.keep_alive);
  }
  CHECK(c.connects() == 1);
  CHECK(backend.connections() == 1);
  CHECK(backend.requests() == 100);
  // The connection returns to the pool right after the last response byte is written.
  CHECK(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_upstream_connections",
                        {{"state", "idle"}}) == 1;
  }));
}

TEST_CASE("100 MiB bodies stream both ways with bounded memory") {
  SystemClock clock;
  TestBackend backend("bulk");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/bulk", "bulk.example.com",
                             {{"bulk", 100, v1::ROLE_STABLE, {backend.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  constexpr uint64_t kBytes = 100ull * 1024 * 1024;
  uint64_t expected_sum = 0;
  for (uint64_t i = 0; i < kBytes; ++i) expected_sum += i % 251;
  TestClient c(proxy.port());
  c.get("bulk.example.com", "/");  // warm up pools and buffers
  REQUIRE(reset_peak_rss());
  const uint64_t base_kib = status_kib("VmRSS");

  auto up = c.upload("bulk.example.com", "/upload", kBytes, false);
  CHECK(up.status == 200);
  CHECK(up.body == "bytes=" + std::to_string(kBytes) + " sum=" + std::to_string(expected_sum));
  auto chunked = c.upload("bulk.example.com", "/upload", kBytes, true);
  CHECK(chunked.status == 200);
  CHECK(chunked.body == "bytes=" + std::to_string(kBytes) + " sum=" + std::to_string(expected_sum));
  auto down = c.request("GET", "bulk.example.com", "/big?bytes=" + std::to_string(kBytes), {}, {},
                        false);
  CHECK(down.status == 200);
  CHECK(down.body_bytes == kBytes);
  CHECK(down.headers["transfer-encoding"] == "chunked");

  const uint64_t peak_kib = status_kib("VmHWM");
  MESSAGE("RSS before " << base_kib << " KiB, peak during 3 x 100 MiB transfers " << peak_kib
                        << " KiB");
  // Client, proxy and backend all live in this process; buffering any one body would add
  // 100 MiB. Streaming keeps the growth to a few relay buffers.
  CHECK(peak_kib < base_kib + 24 * 1024);
}

TEST_CASE("upstream failures: connect refused moves to another endpoint else 502") {
  SystemClock clock;
  TestBackend live("live");
  // A port that refuses connections: bind, then close.
  uint16_t dead_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    dead_port = a.local_endpoint().port();
  }
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/flaky", "flaky.example.com",
                             {{"flaky", 100, v1::ROLE_STABLE, {dead_port, live.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  for (int i = 0; i < 30; ++i) {
    auto r = c.request("POST", "flaky.example.com", "/upload", {}, "payload");
    REQUIRE(r.status == 200);
    CHECK(r.body == "bytes=7 sum=" + std::to_string(112 + 97 + 121 + 108 + 111 + 97 + 100));
  }
  CHECK(live.requests() == 30);
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_upstream_errors_total",
                     {{"namespace", "ns"}, {"route", "flaky"}, {"backend", "flaky"},
                      {"reason", "connect"}}) > 0);

  // Only the dead endpoint: 502, and the client connection stays usable.
  scaler.set_table(one_route(2, "ns/flaky", "flaky.example.com",
                             {{"flaky", 100, v1::ROLE_STABLE, {dead_port}}}));
  REQUIRE(proxy.wait_applied(2));
  auto r = c.get("flaky.example.com", "/");
  CHECK(r.status == 502);
  CHECK(r.keep_alive);
  // An upstream that closes without answering: 502.
  scaler.set_table(one_route(3, "ns/flaky", "flaky.example.com",
                             {{"flaky", 100, v1::ROLE_STABLE, {live.port()}}}));
  REQUIRE(proxy.wait_applied(3));
  CHECK(c.get("flaky.example.com", "/close").status == 502);
  CHECK(c.get("flaky.example.com", "/").status == 200);
}

TEST_CASE("cold start: a held request is reported at once and released when endpoints appear") {
  SystemClock clock;
  TestBackend backend("sleepy");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/sleepy", "sleepy.example.com",
                             {{"sleepy", 100, v1::ROLE_STABLE, {}}}));
  REQUIRE(proxy.wait_applied(1));
  REQUIRE(wait_until([&] { return proxy.reporter().healthy_count() == 1; }));
  const auto sent = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("sleepy.example.com", "/wake");
  });
  REQUIRE(wait_until([&] { return scaler.held("ns/sleepy", "sleepy") == 1; }));
  CHECK(scaler.urgent_reports() >= 1);
  const auto report_latency = scaler.first_urgent_at() - sent;
  MESSAGE("request sent -> urgent report received: "
          << std::chrono::duration_cast<std::chrono::microseconds>(report_latency).count() << " us");
  // Urgent reports do not wait for the report period (50 ms here); generous for a loaded machine.
  CHECK(report_latency < milliseconds(200));
  CHECK(pending.wait_for(milliseconds(50)) == std::future_status::timeout);
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_held_requests",
                     {{"namespace", "ns"}, {"route", "sleepy"}}) == 1);

  scaler.set_table(one_route(2, "ns/sleepy", "sleepy.example.com",
                             {{"sleepy", 100, v1::ROLE_STABLE, {backend.port()}}}));
  auto r = pending.get();
  CHECK(r.status == 200);
  CHECK(r.body == "sleepy");
  CHECK(wait_until([&] {
    return scaler.held("ns/sleepy", "sleepy") == 0 && scaler.counted("ns/sleepy", "sleepy") == 1;
  }));
}

TEST_CASE("cold start: the hold queue is bounded per route then 503 with Retry-After") {
  SystemClock clock;
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.limits.max_pending_requests = 2;
    s.retry_after = seconds(3);
  });
  TestBackend backend("queued");
  scaler.set_table(one_route(1, "ns/queued", "queued.example.com",
                             {{"queued", 100, v1::ROLE_STABLE, {}}}));
  REQUIRE(proxy.wait_applied(1));
  std::vector<std::future<TestClient::Response>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::async(std::launch::async, [&] {
      TestClient c(proxy.port());
      return c.get("queued.example.com", "/");
    }));
  }
  REQUIRE(wait_until([&] {
    return metric_value(proxy.metrics_text(), "lockstep_proxy_held_requests",
                        {{"namespace", "ns"}, {"route", "queued"}}) == 2;
  }));
  TestClient extra(proxy.port());
  auto full = extra.get("queued.example.com", "/");
  CHECK(full.status == 503);
  CHECK(full.headers["retry-after"] == "3");
  CHECK(metric_value(proxy.metrics_text(), "lockstep_proxy_queue_full_total",
                     {{"namespace", "ns"}, {"route", "queued"}}) == 1);
  scaler.set_table(one_route(2, "ns/queued", "queued.example.com",
                             {{"queued", 100, v1::ROLE_STABLE, {backend.port()}}}));
  for (auto& f : held) CHECK(f.get().status == 200);
}

TEST_CASE("timeouts: cold start and upstream response give 504 (manual clock)") {
  ManualClock clock;
  TestBackend backend("slow");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.timeouts.cold_start = seconds(30);
    s.timeouts.response = seconds(5);
  });
  v1::RouteTable t;
  t.set_version(1);
  add_backend(add_route(t, "ns/cold", {"cold.example.com"}), "cold", 100, v1::ROLE_STABLE, {});
  add_backend(add_route(t, "ns/slow", {"slow.example.com"}), "slow", 100, v1::ROLE_STABLE,
              {backend.port()});
  scaler.set_table(t);
  REQUIRE(proxy.wait_applied(1));

  auto cold = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("cold.example.com", "/");
  });
  auto slow = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("slow.example.com", "/hang");
  });
  REQUIRE(wait_until([&] { return backend.hanging() == 1 && scaler.held("ns/cold", "cold") == 1; }));
  proxy.sweep();
  clock.advance(seconds(6));  // past the response timeout only
  proxy.sweep();
  auto s = slow.get();
  CHECK(s.status == 504);
  CHECK(cold.wait_for(milliseconds(20)) == std::future_status::timeout);
  clock.advance(seconds(30));
  proxy.sweep();
  auto c = cold.get();
  CHECK(c.status == 504);
  const std::string m = proxy.metrics_text();
  CHECK(metric_value(m, "lockstep_proxy_cold_start_timeouts_total",
                     {{"namespace", "ns"}, {"route", "cold"}}) == 1);
  CHECK(metric_value(m, "lockstep_proxy_upstream_errors_total",
                     {{"namespace", "ns"}, {"route", "slow"}, {"backend", "slow"},
                      {"reason", "response_timeout"}}) == 1);
  CHECK(metric_value(m, "lockstep_proxy_requests_total",
                     {{"namespace", "ns"}, {"route", "cold"}, {"backend", "cold"},
                      {"code", "504"}}) == 1);
}

TEST_CASE("route table updates mid-traffic fail no request") {
  SystemClock clock;
  TestBackend a("blue"), b("green");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/app", "app.example.com",
                             {{"blue", 100, v1::ROLE_STABLE, {a.port()}},
                              {"green", 0, v1::ROLE_CANARY, {b.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      TestClient c(proxy.port());
      while (!stop) {
        auto r = c.get("app.example.com", "/");
        (r.status == 200 ? ok : bad)++;
      }
    });
  }
  for (uint32_t v = 2; v < 60; ++v) {
    const uint32_t w = (v * 7) % 101;
    // Endpoints come and go as well (but each backend always keeps one).
    std::vector<uint16_t> ports_a{a.port()};
    if (v % 3 == 0) ports_a.push_back(a.port());
    scaler.set_table(one_route(v, "ns/app", "app.example.com",
                               {{"blue", 100 - w, v1::ROLE_STABLE, ports_a},
                                {"green", w, v1::ROLE_CANARY, {b.port()}}}));
    REQUIRE(proxy.wait_applied(v));
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(bad == 0);
  CHECK(ok > 100);
}

TEST_CASE("reported counts match requests served exactly across a scaler restart") {
  SystemClock clock;
  TestBackend backend("counted");
  auto scaler = std::make_unique<FakeScaler>();
  const int port = scaler->port();
  ProxyHarness proxy({scaler->address()}, clock);
  const auto table = one_route(1, "ns/counted", "counted.example.com",
                               {{"counted", 100, v1::ROLE_STABLE, {backend.port()}}});
  scaler->set_table(table);
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  for (int i = 0; i < 300; ++i) REQUIRE(c.get("counted.example.com", "/").status == 200);
  REQUIRE(wait_until([&] { return scaler->counted("ns/counted", "counted") == 300; }));

  scaler.reset();  // the scaler goes away; requests keep flowing with the last good table
  for (int i = 0; i < 200; ++i) REQUIRE(c.get("counted.example.com", "/").status == 200);
  scaler = std::make_unique<FakeScaler>(port);
  scaler->set_table(table);
  for (int i = 0; i < 100; ++i) REQUIRE(c.get("counted.example.com", "/").status == 200);
  // The restarted replica learns the whole story from the history replay: none lost, none twice.
  CHECK(wait_until([&] { return scaler->counted("ns/counted", "counted") == 600; }));
  CHECK(backend.requests() == 601 - 1);
  // And it stays at 600 (no late double count).
  CHECK_FALSE(wait_until([&] { return scaler->counted("ns/counted", "counted") != 600; },
                         milliseconds(300)));
}

TEST_CASE("malformed requests get 400 and a close - other refusals keep the connection") {
  SystemClock clock;
  TestBackend backend("strict");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.limits.max_header_bytes = 4096;
  });
  scaler.set_table(one_route(1, "ns/strict", "strict.example.com",
                             {{"strict", 100, v1::ROLE_STABLE, {backend.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  {
    TestClient c(proxy.port());
    auto r = c.raw("GET /x HTTP/1.1\r\nHost strict.example.com\r\n\r\n");
    CHECK(r.status == 400);
    CHECK_FALSE(r.keep_alive);
  }
  {
    TestClient c(proxy.port());
    auto r = c.raw("GET /x HTTP/1.1\r\nHost: strict.example.com\r\nX-Big: " +
                   std::string(8000, 'a') + "\r\n\r\n");
    CHECK(r.status == 431);
  }
  {
    TestClient c(proxy.port());
    auto r = c.raw("GET /x HTTP/1.1\r\n\r\n");  // no Host: answerable, connection kept
    CHECK(r.status == 400);
    CHECK(r.keep_alive);
    CHECK(c.get("strict.example.com", "/").status == 200);
    auto dots = c.get("strict.example.com", "/a/%2e%2e/b");
    CHECK(dots.status == 400);
    CHECK(c.get("strict.example.com", "/").status == 200);
    CHECK(c.connects() == 1);
  }
  {
    TestClient c(proxy.port());
    auto r = c.raw("POST /x HTTP/1.1\r\nHost: strict.example.com\r\nContent-Length: 3\r\n"
                   "Transfer-Encoding: chunked\r\n\r\nabc");
    CHECK(r.status == 400);
    CHECK_FALSE(r.keep_alive);
  }
  const std::string m = proxy.metrics_text();
  CHECK(metric_value(m, "lockstep_proxy_request_rejects_total", {{"reason", "malformed"}}) == 2);
  CHECK(metric_value(m, "lockstep_proxy_request_rejects_total", {{"reason", "header_too_large"}}) ==
        1);
  CHECK(metric_value(m, "lockstep_proxy_request_rejects_total", {{"reason", "bad_host"}}) == 1);
  CHECK(metric_value(m, "lockstep_proxy_request_rejects_total", {{"reason", "bad_target"}}) == 1);
}

TEST_CASE("forwarded headers are set hop-by-hop headers removed Expect answered by the proxy") {
  SystemClock clock;
  TestBackend backend("echo");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock);
  scaler.set_table(one_route(1, "ns/echo", "echo.example.com",
                             {{"echo", 100, v1::ROLE_STABLE, {backend.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  auto r = c.request("GET", "echo.example.com:8080", "/echo-headers",
                     {{"Connection", "keep-alive, X-Drop-Me"},
                      {"X-Drop-Me", "secret"},
                      {"Keep-Alive", "timeout=5"},
                      {"X-Forwarded-For", "203.0.113.7"},
                      {"X-Keep", "1"}});
  REQUIRE(r.status == 200);
  CHECK(r.body.find("X-Drop-Me") == std::string::npos);
  CHECK(r.body.find("Keep-Alive") == std::string::npos);
  CHECK(r.body.find("X-Keep: 1") != std::string::npos);
  CHECK(r.body.find("x-forwarded-for: 203.0.113.7, 127.0.0.1") != std::string::npos);
  CHECK(r.body.find("x-forwarded-proto: http") != std::string::npos);
  CHECK(r.body.find("x-forwarded-host: echo.example.com:8080") != std::string::npos);
  CHECK(r.body.find("Host: echo.example.com:8080") != std::string::npos);
  // Expect: 100-continue is answered by the proxy and not forwarded.
  auto up = c.request("POST", "echo.example.com", "/upload", {{"Expect", "100-continue"}}, "abc");
  CHECK(up.status == 200);
  CHECK(up.body == "bytes=3 sum=294");
  // A small chunked body arrives in one segment with its last chunk: re-chunked, complete.
  auto small = c.get("echo.example.com", "/big?bytes=10");
  CHECK(small.status == 200);
  CHECK(small.body == "abcdefghij");
  CHECK(small.headers["transfer-encoding"] == "chunked");
  CHECK(c.get("echo.example.com", "/").status == 200);
  // HTTP/1.0 client: no chunked encoding, connection closed after a streamed body.
  TestClient old(proxy.port());
  auto r10 = old.raw("GET /big?bytes=1000 HTTP/1.0\r\nHost: echo.example.com\r\n\r\n");
  CHECK(r10.status == 200);
  CHECK(r10.body_bytes == 1000);
  CHECK(r10.headers.count("transfer-encoding") == 0);
  CHECK_FALSE(r10.keep_alive);
}

TEST_CASE("drain: requests in progress finish idle connections close new ones are refused") {
  ManualClock clock;
  TestBackend backend("draining");
  FakeScaler scaler;
  ProxyHarness proxy({scaler.address()}, clock, [](ProxySettings& s) {
    s.timeouts.response = seconds(5);
  });
  scaler.set_table(one_route(1, "ns/d", "d.example.com",
                             {{"draining", 100, v1::ROLE_STABLE, {backend.port()}}}));
  REQUIRE(proxy.wait_applied(1));
  const uint16_t port = proxy.port();
  TestClient idle(port);
  REQUIRE(idle.get("d.example.com", "/").status == 200);
  auto busy = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("d.example.com", "/hang");
  });
  REQUIRE(wait_until([&] { return backend.hanging() == 1; }));
  CHECK(proxy.server().ready());
  std::thread drainer([&] { proxy.server().drain(seconds(10)); });
  // The hanging request ends by its own response timeout, with Connection: close.
  REQUIRE(wait_until([&] { return !proxy.server().ready(); }));
  clock.advance(seconds(6));
  proxy.sweep();
  auto r = busy.get();
  CHECK(r.status == 504);
  CHECK_FALSE(r.keep_alive);
  drainer.join();
  CHECK(proxy.server().open_sessions() == 0);
  TestClient late(port);
  CHECK_THROWS(late.get("d.example.com", "/"));
  // The idle keep-alive connection was closed by the drain.
  CHECK(idle.get("d.example.com", "/").status == 0);
}

}  // namespace
}  // namespace lockstep::proxy::testing
