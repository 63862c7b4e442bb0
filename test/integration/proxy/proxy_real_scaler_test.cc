// lockstep-proxy against the real ingest side of lockstep-scaler (the aggregator and its gRPC
// Ingest service, linked in), with the route table from the test's Routes server.
#include <doctest/doctest.h>

#include <future>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_service.h"
#include "test/integration/proxy/proxy_test_support.h"

namespace lockstep::proxy::testing {
namespace {

using std::chrono::milliseconds;

// One scaler replica: the real aggregator and Ingest service, plus a Routes server. Destroyed
// in reverse order (the gRPC server before the service it serves).
struct RealScaler {
  RealScaler(const Clock& clock, int port)
      : aggregator(clock, aggregator::AggregatorOptions{}, Logger(LogLevel::kWarn)),
        ingest(aggregator, aggregator::IngestServiceOptions{}, nullptr, Logger(LogLevel::kWarn)),
        server(port, &ingest) {}
  ~RealScaler() { ingest.shutdown(); }

  uint64_t total(const std::string& route, const std::string& backend) const {
    auto r = aggregator.find_route(route);
    if (!r) return 0;
    const aggregator::RouteSeries* s = r->find_series(backend);
    return s == nullptr ? 0 : s->requests_total();
  }
  int64_t held(const std::string& route) const {
    auto r = aggregator.find_route(route);
    return r ? r->held() : -1;
  }

  aggregator::Aggregator aggregator;
  aggregator::IngestService ingest;
  FakeScaler server;
};

v1::RouteTable table(uint64_t version, std::vector<uint16_t> ports) {
  v1::RouteTable t;
  t.set_version(version);
  add_backend(add_route(t, "shop/cart", {"cart.example.com"}), "cart", 100, v1::ROLE_STABLE,
              std::move(ports));
  return t;
}

TEST_CASE("the real aggregator counts exactly what was served across a scaler restart") {
  SystemClock clock;
  TestBackend backend("cart");
  auto scaler = std::make_unique<RealScaler>(clock, 0);
  const int port = scaler->server.port();
  ProxyHarness proxy({scaler->server.address()}, clock);
  scaler->server.set_table(table(1, {backend.port()}));
  REQUIRE(proxy.wait_applied(1));
  TestClient c(proxy.port());
  for (int i = 0; i < 300; ++i) REQUIRE(c.get("cart.example.com", "/").status == 200);
  REQUIRE(wait_until([&] { return scaler->total("shop/cart", "cart") == 300; }));

  scaler.reset();  // the replica restarts: all its memory is gone
  for (int i = 0; i < 200; ++i) REQUIRE(c.get("cart.example.com", "/").status == 200);
  scaler = std::make_unique<RealScaler>(clock, port);
  scaler->server.set_table(table(1, {backend.port()}));
  for (int i = 0; i < 100; ++i) REQUIRE(c.get("cart.example.com", "/").status == 200);

  CHECK(wait_until([&] { return scaler->total("shop/cart", "cart") == 600; }));
  CHECK(backend.requests() == 600);
  // Nothing counted twice later (history replay and samples overlap by design).
  CHECK_FALSE(wait_until([&] { return scaler->total("shop/cart", "cart") != 600; },
                         milliseconds(500)));
  // The replayed history lands in the window: the route's rate over the last minute sees it.
  auto route = scaler->aggregator.find_route("shop/cart");
  REQUIRE(route);
  CHECK(route->request_rate(clock.unix_ms(), 60'000) > 0);
}

TEST_CASE("a held request shows in the real aggregator at once and leaves when released") {
  SystemClock clock;
  TestBackend backend("cart");
  RealScaler scaler(clock, 0);
  ProxyHarness proxy({scaler.server.address()}, clock,
                     [](ProxySettings& s) { s.fleet = "shop/edge-proxy"; });
  scaler.server.set_table(table(1, {}));
  REQUIRE(proxy.wait_applied(1));
  REQUIRE(wait_until([&] { return proxy.reporter().healthy_count() == 1; }));
  auto pending = std::async(std::launch::async, [&] {
    TestClient c(proxy.port());
    return c.get("cart.example.com", "/");
  });
  REQUIRE(wait_until([&] { return scaler.held("shop/cart") == 1; }));
  CHECK(scaler.total("shop/cart", "cart") == 1);
  // The fleet named in the proxy's Hello carries its load (a proxyFleet trigger reads it).
  const auto fleets = scaler.aggregator.connected_proxies();
  REQUIRE(fleets.size() == 1);
  CHECK(fleets[0].fleet == "shop/edge-proxy");
  scaler.server.set_table(table(2, {backend.port()}));
  CHECK(pending.get().status == 200);
  CHECK(wait_until([&] { return scaler.held("shop/cart") == 0; }));
  CHECK(proxy.server().applied_version() == 2);
  // The scaler learns which table the proxy applies (VerifyWeight relies on it).
  CHECK(wait_until([&] {
    for (const auto& p : scaler.aggregator.connected_proxies()) {
      if (p.route_table_version == 2) return true;
    }
    return false;
  }));
}

}  // namespace
}  // namespace lockstep::proxy::testing
