#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "rollout/route_authority.h"

namespace lockstep::rollout {

// Per-route series computed at scrape time from the authority (so removed routes disappear
// without bookkeeping):
//   lockstep_scaler_split_weight{namespace,route,backend,role}     weight out of max_weight
//   lockstep_scaler_split_max_weight{namespace,route}
//   lockstep_scaler_split_generation{namespace,route}
//   lockstep_scaler_split_applied{namespace,route}                 1: every connected proxy
//   lockstep_scaler_route_endpoints{namespace,route,backend,role}  ready endpoints (0 = cold)
class RouteCollector final : public prometheus::Collectable {
 public:
  explicit RouteCollector(const RouteAuthority& authority) : authority_(authority) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const RouteAuthority& authority_;
};

}  // namespace lockstep::rollout
