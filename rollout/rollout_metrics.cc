#include "rollout/rollout_metrics.h"

namespace lockstep::rollout {

RolloutMetrics::RolloutMetrics(prometheus::Registry& registry)
    : invalid_family_(prometheus::BuildCounter()
                          .Name("lockstep_scaler_objects_invalid_total")
                          .Help("Kubernetes objects (or split annotations) skipped as malformed, "
                                "by kind; the log line names the object and the field.")
                          .Register(registry)),
      watch_family_(prometheus::BuildCounter()
                        .Name("lockstep_scaler_watch_events_total")
                        .Help("Watch events received by kind and type (ADDED, MODIFIED, DELETED, "
                              "RELIST, RELOAD).")
                        .Register(registry)),
      builds_(prometheus::BuildCounter()
                  .Name("lockstep_scaler_route_table_builds_total")
                  .Help("Route tables built (after every batch of object changes).")
                  .Register(registry)
                  .Add({})),
      changes_(prometheus::BuildCounter()
                   .Name("lockstep_scaler_route_table_changes_total")
                   .Help("Route tables built whose version differed from the previous one.")
                   .Register(registry)
                   .Add({})),
      build_seconds_(prometheus::BuildHistogram()
                         .Name("lockstep_scaler_route_table_build_duration_seconds")
                         .Help("Time to rebuild the route table from the cluster model.")
                         .Register(registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1})),
      version_(prometheus::BuildGauge()
                   .Name("lockstep_scaler_route_table_version")
                   .Help("Version of the current route table (its low 53 bits, as the proxies "
                         "export it).")
                   .Register(registry)
                   .Add({})),
      routes_(prometheus::BuildGauge()
                  .Name("lockstep_scaler_routes")
                  .Help("Routes in the current route table.")
                  .Register(registry)
                  .Add({})),
      synced_(prometheus::BuildGauge()
                  .Name("lockstep_scaler_rollout_synced")
                  .Help("1 once every object source has listed completely and a route table "
                        "was built from it.")
                  .Register(registry)
                  .Add({})),
      subscribers_(prometheus::BuildGauge()
                       .Name("lockstep_scaler_route_subscribers")
                       .Help("Open route-table streams (lockstep.v1.Routes/Subscribe).")
                       .Register(registry)
                       .Add({})),
      tables_sent_(prometheus::BuildCounter()
                       .Name("lockstep_scaler_route_tables_sent_total")
                       .Help("Route tables written to subscribers.")
                       .Register(registry)
                       .Add({})) {
  auto& objects = prometheus::BuildGauge()
                      .Name("lockstep_scaler_objects")
                      .Help("Objects in the cluster model, by kind.")
                      .Register(registry);
  for (size_t k = 0; k < kObjectKinds; ++k) {
    objects_[k] = &objects.Add({{"kind", std::string(kind_name(static_cast<ObjectKind>(k)))}});
  }
}

void RolloutMetrics::object_invalid(std::string_view kind) {
  invalid_family_.Add({{"kind", std::string(kind.empty() ? "unknown" : kind)}}).Increment();
}

void RolloutMetrics::watch_event(ObjectKind kind, std::string_view type) {
  watch_family_.Add({{"kind", std::string(kind_name(kind))}, {"type", std::string(type)}})
      .Increment();
}

void RolloutMetrics::table_built(double seconds, uint64_t version, size_t routes, bool changed) {
  builds_.Increment();
  if (changed) changes_.Increment();
  build_seconds_.Observe(seconds);
  version_.Set(static_cast<double>(version & ((uint64_t{1} << 53) - 1)));
  routes_.Set(static_cast<double>(routes));
}

}  // namespace lockstep::rollout
