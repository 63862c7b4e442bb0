#include "scaler/metric_computation.h"

#include <algorithm>

#include "scaler/trigger_cache.h"

namespace lockstep::scaler {

MetricReading MetricComputation::read(const TriggerSpec& spec,
                                      const aggregator::Route& route) const {
  MetricReading r;
  r.in_flight = route.in_flight();
  r.held = route.held();
  if (spec.metric == ScalingMetric::kConcurrency) {
    r.value = static_cast<double>(std::max<int64_t>(0, r.in_flight + r.held));
  } else {
    r.value = route.request_rate(clock_.unix_ms(), static_cast<uint32_t>(spec.window.count()));
    // Never let a live request read as 0 (the HTTP add-on's #1692).
    if (r.value > 0 || r.in_flight > 0 || r.held > 0) r.value = std::max(r.value, kMinPositive);
  }
  r.active = r.value > spec.activation_value || r.held > 0;
  return r;
}

MetricReading MetricComputation::read_trigger(const Trigger& trigger) const {
  if (trigger.is_fleet()) {
    return read_fleet(trigger.spec, *trigger.fleet, trigger.unnamed_fleet.get());
  }
  return read(trigger.spec, trigger.route());
}

MetricReading MetricComputation::read_fleet(const TriggerSpec& spec,
                                            const aggregator::FleetLoad& fleet,
                                            const aggregator::FleetLoad* unnamed) const {
  MetricReading r;
  r.in_flight = fleet.in_flight.load(std::memory_order_relaxed);
  r.held = fleet.held.load(std::memory_order_relaxed);
  if (unnamed != nullptr && unnamed != &fleet) {
    r.in_flight += unnamed->in_flight.load(std::memory_order_relaxed);
    r.held += unnamed->held.load(std::memory_order_relaxed);
  }
  r.value = static_cast<double>(std::max<int64_t>(0, r.in_flight + r.held));
  r.active = r.value > spec.activation_value || r.held > 0;
  return r;
}

}  // namespace lockstep::scaler
