#include "scaler/scaler_metrics.h"

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace lockstep::scaler {

std::string_view keda_method_name(KedaMethod m) {
  switch (m) {
    case KedaMethod::kIsActive:
      return "IsActive";
    case KedaMethod::kStreamIsActive:
      return "StreamIsActive";
    case KedaMethod::kGetMetricSpec:
      return "GetMetricSpec";
    case KedaMethod::kGetMetrics:
      return "GetMetrics";
    case KedaMethod::kStreamMetricSpec:
      return "StreamMetricSpec";
  }
  return "unknown";
}

ScalerMetrics::ScalerMetrics(prometheus::Registry& registry) {
  // Latency buckets from 5 µs to 1 s: the in-process figures live in the low microseconds.
  const prometheus::Histogram::BucketBoundaries fast = {
      0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
      0.0025,   0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1};
  auto& keda = prometheus::BuildHistogram()
                   .Name("lockstep_scaler_keda_request_duration_seconds")
                   .Help("Time to answer KEDA's unary calls (streams: time to open), by method")
                   .Register(registry);
  for (size_t i = 0; i < kKedaMethods; ++i) {
    keda_duration_[i] =
        &keda.Add({{"method", std::string(keda_method_name(static_cast<KedaMethod>(i)))}}, fast);
  }
  ingest_apply_ = &prometheus::BuildHistogram()
                       .Name("lockstep_scaler_ingest_apply_duration_seconds")
                       .Help("Time to apply one proxy report to the aggregator")
                       .Register(registry)
                       .Add({}, fast);
  activation_latency_ =
      &prometheus::BuildHistogram()
           .Name("lockstep_scaler_activation_latency_seconds")
           .Help("From receiving the report that made a route active (e.g. a held request) to "
                 "sending true on StreamIsActive")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                            0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25, 0.5, 1, 2.5});
}

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void ScalerMetrics::keda_call(KedaMethod method, std::chrono::nanoseconds duration) {
  keda_duration_[static_cast<size_t>(method)]->Observe(seconds(duration));
}

void ScalerMetrics::ingest_apply(std::chrono::nanoseconds duration) {
  ingest_apply_->Observe(seconds(duration));
}

void ScalerMetrics::activation_latency(std::chrono::nanoseconds latency) {
  activation_latency_->Observe(seconds(latency));
}

}  // namespace lockstep::scaler
