#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "externalscaler.grpc.pb.h"
#include "scaler/activation_hub.h"
#include "scaler/metric_computation.h"
#include "scaler/push_stream.h"
#include "scaler/scaler_metrics.h"
#include "scaler/trigger_cache.h"

namespace lockstep::scaler {

// KEDA's externalscaler.ExternalScaler on the gRPC callback API.
//
//   GetMetricSpec    one spec per trigger: the metric name, targetSizeFloat = targetValue and
//                    targetSize = ceil(targetValue) (>= 1, for KEDA < 2.17)
//   GetMetrics       the trigger's value as metricValueFloat and metricValue (ceil; an exact 0
//                    sets both to 0); metricName is matched case-insensitively (empty: the
//                    trigger's metric)
//   IsActive         value > activationValue, or a request is held
//   StreamIsActive   `true` on each inactive->active transition (ActivationHub)
//   StreamMetricSpec the current spec at once, then whenever it changes (refresh_metric_specs)
//
// Every call parses the trigger metadata once per distinct map (TriggerCache); bad metadata is
// INVALID_ARGUMENT naming the key, value and rule. Unary calls answer inline from lock-free
// reads. shutdown() ends every stream with OK, so KEDA reconnects after 2 s, not after a grown
// backoff.
class ExternalScalerService final : public externalscaler::ExternalScaler::CallbackService {
 public:
  ExternalScalerService(TriggerCache& triggers, const MetricComputation& computation,
                        ActivationHub& hub, ScalerMetrics& metrics, const Clock& clock,
                        Logger log);
  ~ExternalScalerService() override;

  // The generated synchronous overloads stay visible (-Woverloaded-virtual); gRPC never calls
  // them on a callback service.
  using externalscaler::ExternalScaler::CallbackService::GetMetricSpec;
  using externalscaler::ExternalScaler::CallbackService::GetMetrics;
  using externalscaler::ExternalScaler::CallbackService::IsActive;
  using externalscaler::ExternalScaler::CallbackService::StreamIsActive;
  using externalscaler::ExternalScaler::CallbackService::StreamMetricSpec;

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* context,
                                     const externalscaler::ScaledObjectRef* request,
                                     externalscaler::IsActiveResponse* response) override;
  grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* context, const externalscaler::ScaledObjectRef* request) override;
  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* context,
                                          const externalscaler::ScaledObjectRef* request,
                                          externalscaler::GetMetricSpecResponse* response) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* context,
                                       const externalscaler::GetMetricsRequest* request,
                                       externalscaler::GetMetricsResponse* response) override;
  grpc::ServerWriteReactor<externalscaler::GetMetricSpecResponse>* StreamMetricSpec(
      grpc::CallbackServerContext* context, const externalscaler::ScaledObjectRef* request) override;

  // Re-sends the spec on every open StreamMetricSpec whose spec changed (MetricComputation::spec).
  void refresh_metric_specs();
  // Ends every open stream with OK; streams opened afterwards end with OK at once.
  void shutdown();
  size_t open_streams() const;

 private:
  using SpecStream = PushStream<externalscaler::GetMetricSpecResponse>::Handle;
  struct SpecSub {
    std::shared_ptr<Trigger> trigger;
    std::shared_ptr<SpecStream> stream;
    externalscaler::GetMetricSpecResponse last;
  };
  // Looks the trigger up; on error returns INVALID_ARGUMENT naming key, value and rule.
  grpc::Status find(const externalscaler::ScaledObjectRef& ref, std::shared_ptr<Trigger>* out);
  externalscaler::GetMetricSpecResponse spec_response(const Trigger& trigger) const;

  TriggerCache& triggers_;
  const MetricComputation& computation_;
  ActivationHub& hub_;
  ScalerMetrics& metrics_;
  const Clock& clock_;
  Logger log_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  bool shutting_down_ = false;
  std::set<std::shared_ptr<PushStream<externalscaler::IsActiveResponse>::Handle>> active_streams_;
  std::vector<std::shared_ptr<SpecSub>> spec_subs_;
};

}  // namespace lockstep::scaler
