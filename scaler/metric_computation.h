#pragma once

#include <cstdint>
#include <string>

#include "aggregator/fleet_load.h"
#include "aggregator/route.h"
#include "common/clock.h"
#include "scaler/trigger_spec.h"

namespace lockstep::scaler {

struct Trigger;

// What a trigger reads now.
struct MetricReading {
  double value = 0;    // what GetMetrics returns (requests/s, or requests in flight + held)
  bool active = false;  // what IsActive returns: value > activationValue, or a request is held
  int64_t in_flight = 0;
  int64_t held = 0;
};

// What GetMetricSpec (and StreamMetricSpec) return for a trigger.
struct MetricSpecValue {
  std::string name;
  double target = 0;  // per replica
};

// The metric computation, and the extension point for other scaling modes.
//
// The default: requestRate = true requests per second over the trigger's window, summed over the
// route's backends (a positive rate, or anything held or in flight, reads at least kMinPositive
// so KEDA's three-decimal rounding never turns it into 0); concurrency = in flight + held, summed
// over the live proxies and the backends. Active when value > activationValue or anything is
// held.
//
// Issue 3 (rollout-aware requestRate) subclasses this in rollout/ and overrides read() (and
// spec(), if its targets move) for triggers that ask for it through their own metadata keys
// (TriggerSpec::extra), calling the base for everything else. The scaler never depends on
// rollout/: main() passes the subclass in. After a change that alters spec(), call
// ExternalScalerService::refresh_metric_specs() so StreamMetricSpec subscribers hear of it.
// Implementations are called concurrently from gRPC threads: const and thread-safe.
class MetricComputation {
 public:
  static constexpr double kMinPositive = 0.001;

  explicit MetricComputation(const Clock& clock) : clock_(clock) {}
  virtual ~MetricComputation() = default;

  // What KEDA's calls, the activation streams and /metrics read: read() for a route trigger,
  // read_fleet() for a proxyFleet trigger.
  MetricReading read_trigger(const Trigger& trigger) const;

  virtual MetricReading read(const TriggerSpec& spec, const aggregator::Route& route) const;
  // proxyFleet: in flight + held over the fleet's live proxies (plus those naming no fleet, which
  // count toward every fleet). Active when value > activationValue or anything is held.
  virtual MetricReading read_fleet(const TriggerSpec& spec, const aggregator::FleetLoad& fleet,
                                   const aggregator::FleetLoad* unnamed) const;
  virtual MetricSpecValue spec(const TriggerSpec& spec) const {
    return MetricSpecValue{spec.metric_name, spec.target_value};
  }

 protected:
  const Clock& clock() const { return clock_; }

 private:
  const Clock& clock_;
};

}  // namespace lockstep::scaler
