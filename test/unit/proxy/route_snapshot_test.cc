#include "proxy/route_snapshot.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "lockstep/v1/routes.pb.h"

namespace lockstep::proxy {
namespace {

namespace v1 = lockstep::v1;

v1::Route* add_route(v1::RouteTable& t, const std::string& key, std::vector<std::string> hosts,
                     std::vector<std::string> prefixes) {
  auto* r = t.add_routes();
  r->set_key(key);
  for (auto& h : hosts) r->add_hosts(h);
  for (auto& p : prefixes) r->add_path_prefixes(p);
  return r;
}

v1::Backend* add_backend(v1::Route* r, const std::string& service, uint32_t weight,
                         v1::Role role = v1::ROLE_STABLE, uint32_t port = 8080) {
  auto* b = r->add_backends();
  b->set_service(service);
  b->set_weight(weight);
  b->set_role(role);
  auto* ep = b->add_endpoints();
  ep->set_ip("10.0.0.1");
  ep->set_port(port);
  return b;
}

const std::string* key_of(const RouteEntry* r) { return r == nullptr ? nullptr : &r->key; }

TEST_CASE("exact host before wildcard before catch-all - longest prefix on segment boundaries") {
  v1::RouteTable t;
  t.set_version(7);
  add_backend(add_route(t, "ns/exact-root", {"shop.example.com"}, {"/"}), "a", 100);
  add_backend(add_route(t, "ns/exact-api", {"shop.example.com"}, {"/api"}), "b", 100);
  add_backend(add_route(t, "ns/wild", {"*.example.com"}, {"/"}), "c", 100);
  add_backend(add_route(t, "ns/wild-deep", {"*.eu.example.com"}, {"/"}), "d", 100);
  add_backend(add_route(t, "ns/any", {}, {"/static"}), "e", 100);
  add_backend(add_route(t, "ns/only-admin", {"admin.example.com"}, {"/admin"}), "f", 100);
  TrafficCounters counters(1);
  auto c = compile_route_table(t, counters);
  REQUIRE(c.snapshot);
  CHECK(c.rejects.empty());
  const RouteSnapshot& s = *c.snapshot;
  CHECK(s.version() == 7);
  CHECK(*key_of(s.match("shop.example.com", "/")) == "ns/exact-root");
  CHECK(*key_of(s.match("shop.example.com", "/api")) == "ns/exact-api");
  CHECK(*key_of(s.match("shop.example.com", "/api/v1")) == "ns/exact-api");
  CHECK(*key_of(s.match("shop.example.com", "/apix")) == "ns/exact-root");
  CHECK(*key_of(s.match("cart.example.com", "/x")) == "ns/wild");
  CHECK(*key_of(s.match("a.b.example.com", "/x")) == "ns/wild");
  CHECK(*key_of(s.match("fr.eu.example.com", "/")) == "ns/wild-deep");
  CHECK(s.match("example.com", "/") == nullptr);  // "*.example.com" needs a label in front
  CHECK(*key_of(s.match("other.org", "/static/app.js")) == "ns/any");
  CHECK(s.match("other.org", "/") == nullptr);
  // An exact host whose prefixes do not match falls back to the wildcard.
  CHECK(*key_of(s.match("admin.example.com", "/admin/users")) == "ns/only-admin");
  CHECK(*key_of(s.match("admin.example.com", "/home")) == "ns/wild");
  CHECK(s.find_route("ns/wild") != nullptr);
  CHECK(s.find_route("ns/nope") == nullptr);
}

TEST_CASE("path prefixes match whole segments") {
  CHECK(path_prefix_matches("/", "/anything"));
  CHECK(path_prefix_matches("/api", "/api"));
  CHECK(path_prefix_matches("/api", "/api/"));
  CHECK(path_prefix_matches("/api/", "/api/x"));
  CHECK_FALSE(path_prefix_matches("/api", "/apis"));
  CHECK_FALSE(path_prefix_matches("/api/", "/api"));
}

TEST_CASE("invalid parts are dropped with the field named - the rest applies") {
  v1::RouteTable t;
  t.set_version(9);
  auto* good = add_route(t, "ns/good", {"Bad Host", "ok.example.com"}, {"/", "no-slash"});
  add_backend(good, "svc", 100);
  auto* bad_ep = good->mutable_backends(0)->add_endpoints();
  bad_ep->set_ip("not-an-ip");
  bad_ep->set_port(80);
  add_backend(add_route(t, "Bad_Key", {"x.example.com"}, {"/"}), "svc", 100);
  add_route(t, "ns/no-backends", {"y.example.com"}, {"/"});
  auto* hr_route = add_route(t, "ns/headers", {"h.example.com"}, {"/"});
  add_backend(hr_route, "stable", 100);
  auto* hr = hr_route->add_header_routes();
  hr->set_name("bad-regex");
  hr->set_service("stable");
  auto* m = hr->add_matches();
  m->set_header("X-Canary");
  m->set_kind(v1::MATCH_KIND_REGEX);
  m->set_value("(unclosed");
  TrafficCounters counters(1);
  auto c = compile_route_table(t, counters);
  REQUIRE(c.snapshot);
  std::vector<std::string> fields;
  for (const auto& r : c.rejects) fields.push_back(r.route + " " + r.field + " " + r.kind);
  std::sort(fields.begin(), fields.end());
  CHECK(fields == std::vector<std::string>{
                      "Bad_Key key route",
                      "ns/good backends[0].endpoints[1].ip endpoint",
                      "ns/good hosts host",
                      "ns/good path_prefixes path_prefix",
                      "ns/headers header_routes[0].matches[0].value header_route",
                      "ns/no-backends backends backend",
                  });
  CHECK(c.snapshot->routes().size() == 2);
  const RouteEntry* r = c.snapshot->match("ok.example.com", "/");
  REQUIRE(r != nullptr);
  CHECK(r->backends[0].endpoints.size() == 1);
  CHECK(c.snapshot->match("x.example.com", "/") == nullptr);
  // Every reject names its field.
  for (const auto& rej : c.rejects) {
    CHECK_FALSE(rej.field.empty());
    CHECK_FALSE(rej.reason.empty());
  }
}

TEST_CASE("a zero version refuses the whole table") {
  v1::RouteTable t;
  TrafficCounters counters(1);
  auto c = compile_route_table(t, counters);
  CHECK_FALSE(c.snapshot);
  REQUIRE(c.rejects.size() == 1);
  CHECK(c.rejects[0].field == "version");
}

TEST_CASE("header routes go first (exact prefix regex) then the weighted split") {
  v1::RouteTable t;
  t.set_version(1);
  auto* r = add_route(t, "ns/app", {"app.example.com"}, {"/"});
  add_backend(r, "app-stable", 80, v1::ROLE_STABLE);
  add_backend(r, "app-canary", 20, v1::ROLE_CANARY);
  auto* hr = r->add_header_routes();
  hr->set_name("beta-users");
  hr->set_service("app-canary");
  auto* m = hr->add_matches();
  m->set_header("x-user-group");
  m->set_kind(v1::MATCH_KIND_REGEX);
  m->set_value("beta|qa-[0-9]+");
  auto* hr2 = r->add_header_routes();
  hr2->set_name("pinned");
  hr2->set_service("app-stable");
  auto* m2 = hr2->add_matches();
  m2->set_header("x-pin");
  m2->set_kind(v1::MATCH_KIND_PREFIX);
  m2->set_value("stable");
  TrafficCounters counters(1);
  auto c = compile_route_table(t, counters);
  REQUIRE(c.snapshot);
  const RouteEntry& e = *c.snapshot->find_route("ns/app");
  std::map<std::string, std::string> headers;
  auto lookup = [&headers](std::string_view name) -> std::optional<std::string_view> {
    auto it = headers.find(std::string(name));
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  };
  headers["x-user-group"] = "qa-17";
  CHECK(e.backends[e.choose_backend(lookup)].service == "app-canary");
  headers["x-user-group"] = "qa-17x";  // regex matches the whole value only
  headers["x-pin"] = "stable-please";
  CHECK(e.backends[e.choose_backend(lookup)].service == "app-stable");
  headers.clear();
  int canary = 0;
  for (int i = 0; i < 100; ++i) canary += e.choose_backend(lookup) == 1 ? 1 : 0;
  CHECK(canary == 20);
  CHECK(e.backends[1].series->role() == Role::kCanary);
  CHECK(e.counters->key() == "ns/app");
  CHECK(e.counters->ns() == "ns");
  CHECK(e.counters->name() == "app");
}

TEST_CASE("counters survive table updates: the same series object for the same route/backend") {
  v1::RouteTable t;
  t.set_version(1);
  add_backend(add_route(t, "ns/app", {"app.example.com"}, {"/"}), "app", 100);
  TrafficCounters counters(2);
  auto a = compile_route_table(t, counters);
  t.set_version(2);
  t.mutable_routes(0)->mutable_backends(0)->clear_endpoints();
  auto b = compile_route_table(t, counters);
  REQUIRE(a.snapshot);
  REQUIRE(b.snapshot);
  CHECK(a.snapshot->routes()[0].backends[0].series == b.snapshot->routes()[0].backends[0].series);
  CHECK(b.snapshot->routes()[0].backends[0].endpoints.empty());
  CHECK(counters.series_count() == 1);
}

TEST_CASE("a host+prefix served twice keeps the first route by key and reports the conflict") {
  v1::RouteTable t;
  t.set_version(3);
  add_backend(add_route(t, "ns/b", {"same.example.com"}, {"/"}), "b", 100);
  add_backend(add_route(t, "ns/a", {"same.example.com"}, {"/"}), "a", 100);
  TrafficCounters counters(1);
  auto c = compile_route_table(t, counters);
  REQUIRE(c.snapshot);
  CHECK(*key_of(c.snapshot->match("same.example.com", "/")) == "ns/a");
  REQUIRE(c.rejects.size() == 1);
  CHECK(c.rejects[0].kind == "conflict");
}

}  // namespace
}  // namespace lockstep::proxy
