#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace lockstep::aggregator {

// The summed gauges of every live proxy of one fleet (the proxies' Deployment, named
// "namespace/name" in their Hello), over all the routes they carry: what a `proxyFleet` trigger
// scales the proxies on. Updated once per applied report with the report's net change (under
// the reporting proxy's apply mutex), read without locks. Relaxed: each value is an independent
// sum of deltas; a reader wants a recent value, not a snapshot consistent with other counters.
struct FleetLoad {
  explicit FleetLoad(std::string key) : key(std::move(key)) {}
  const std::string key;  // "namespace/name"; empty for proxies that name no fleet
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> held{0};

  void add(int64_t d_in_flight, int64_t d_held) {
    if (d_in_flight != 0) in_flight.fetch_add(d_in_flight, std::memory_order_relaxed);
    if (d_held != 0) held.fetch_add(d_held, std::memory_order_relaxed);
  }
  int64_t concurrency() const {
    return in_flight.load(std::memory_order_relaxed) + held.load(std::memory_order_relaxed);
  }
};

}  // namespace lockstep::aggregator
