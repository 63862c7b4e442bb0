#include "scaler/metric_computation.h"

#include <algorithm>

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

}  // namespace lockstep::scaler
