#include "scaler/external_scaler_service.h"

#include <cmath>
#include <strings.h>

namespace lockstep::scaler {

namespace es = externalscaler;

namespace {

// Times one call for the KEDA latency histogram.
class CallTimer {
 public:
  CallTimer(ScalerMetrics& m, KedaMethod method)
      : metrics_(m), method_(method), start_(std::chrono::steady_clock::now()) {}
  ~CallTimer() { metrics_.keda_call(method_, std::chrono::steady_clock::now() - start_); }

 private:
  ScalerMetrics& metrics_;
  KedaMethod method_;
  std::chrono::steady_clock::time_point start_;
};

int64_t ceil_at_least_one(double v) {
  const double c = std::ceil(v);
  return c < 1 ? 1 : (c > 9.2e18 ? INT64_MAX : static_cast<int64_t>(c));
}

// A StreamIsActive stream as the activation hub sees it.
class ActiveSink final : public ActivationHub::Sink {
 public:
  explicit ActiveSink(std::shared_ptr<PushStream<es::IsActiveResponse>::Handle> h)
      : handle_(std::move(h)) {}
  bool push_active() override {
    es::IsActiveResponse msg;
    msg.set_result(true);
    return handle_->push(msg);
  }
  bool done() const override { return handle_->done(); }

 private:
  std::shared_ptr<PushStream<es::IsActiveResponse>::Handle> handle_;
};

}  // namespace

ExternalScalerService::ExternalScalerService(TriggerCache& triggers,
                                             const MetricComputation& computation,
                                             ActivationHub& hub, ScalerMetrics& metrics,
                                             const Clock& clock, Logger log)
    : triggers_(triggers),
      computation_(computation),
      hub_(hub),
      metrics_(metrics),
      clock_(clock),
      log_(std::move(log)) {}

ExternalScalerService::~ExternalScalerService() { shutdown(); }

grpc::Status ExternalScalerService::find(const es::ScaledObjectRef& ref,
                                         std::shared_ptr<Trigger>* out) {
  TriggerLookup found = triggers_.lookup(ref.namespace_(), ref.name(), ref.scalermetadata());
  if (found.error) {
    metrics_.metadata_invalid();
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, found.error->message());
  }
  *out = std::move(found.trigger);
  return grpc::Status::OK;
}

es::GetMetricSpecResponse ExternalScalerService::spec_response(const Trigger& trigger) const {
  const MetricSpecValue v = computation_.spec(trigger.spec);
  es::GetMetricSpecResponse resp;
  auto* spec = resp.add_metricspecs();
  spec->set_metricname(v.name);
  spec->set_targetsizefloat(v.target);
  spec->set_targetsize(ceil_at_least_one(v.target));
  return resp;
}

grpc::ServerUnaryReactor* ExternalScalerService::GetMetricSpec(grpc::CallbackServerContext* ctx,
                                                               const es::ScaledObjectRef* request,
                                                               es::GetMetricSpecResponse* response) {
  CallTimer timer(metrics_, KedaMethod::kGetMetricSpec);
  auto* reactor = ctx->DefaultReactor();
  std::shared_ptr<Trigger> trigger;
  grpc::Status status = find(*request, &trigger);
  if (status.ok()) *response = spec_response(*trigger);
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* ExternalScalerService::GetMetrics(grpc::CallbackServerContext* ctx,
                                                            const es::GetMetricsRequest* request,
                                                            es::GetMetricsResponse* response) {
  CallTimer timer(metrics_, KedaMethod::kGetMetrics);
  auto* reactor = ctx->DefaultReactor();
  std::shared_ptr<Trigger> trigger;
  grpc::Status status = find(request->scaledobjectref(), &trigger);
  if (status.ok()) {
    const MetricSpecValue spec = computation_.spec(trigger->spec);
    const std::string& asked = request->metricname();
    if (!asked.empty() && strcasecmp(asked.c_str(), spec.name.c_str()) != 0) {
      status = grpc::Status(grpc::StatusCode::NOT_FOUND,
                            "metricName \"" + asked + "\" is not served by this trigger (its metric is \"" +
                                spec.name + "\")");
    } else {
      const MetricReading r = computation_.read_trigger(*trigger);
      auto* v = response->add_metricvalues();
      v->set_metricname(spec.name);
      v->set_metricvaluefloat(r.value);
      // KEDA < 2.17 reads only the integer; KEDA >= 2.17 takes the float when > 0, so an exact 0
      // must be 0 in both.
      v->set_metricvalue(r.value <= 0 ? 0 : ceil_at_least_one(r.value));
      trigger->last_value.store(r.value, std::memory_order_relaxed);
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* ExternalScalerService::IsActive(grpc::CallbackServerContext* ctx,
                                                          const es::ScaledObjectRef* request,
                                                          es::IsActiveResponse* response) {
  CallTimer timer(metrics_, KedaMethod::kIsActive);
  auto* reactor = ctx->DefaultReactor();
  std::shared_ptr<Trigger> trigger;
  grpc::Status status = find(*request, &trigger);
  if (status.ok()) {
    const MetricReading r = computation_.read_trigger(*trigger);
    response->set_result(r.active);
    trigger->last_active.store(r.active, std::memory_order_relaxed);
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerWriteReactor<es::IsActiveResponse>* ExternalScalerService::StreamIsActive(
    grpc::CallbackServerContext*, const es::ScaledObjectRef* request) {
  CallTimer timer(metrics_, KedaMethod::kStreamIsActive);
  std::shared_ptr<PushStream<es::IsActiveResponse>::Handle> handle;
  auto sub_id = std::make_shared<std::atomic<uint64_t>>(0);
  auto* reactor = PushStream<es::IsActiveResponse>::create(&handle, [this, sub_id] {
    // If the stream ended before its id was stored, the hub drops the subscription of a
    // finished stream on its own at its next round.
    const uint64_t id = sub_id->load(std::memory_order_acquire);
    if (id != 0) hub_.unsubscribe(id);
    metrics_.stream_closed(KedaMethod::kStreamIsActive);
  });
  metrics_.stream_opened(KedaMethod::kStreamIsActive);
  std::shared_ptr<Trigger> trigger;
  grpc::Status status = find(*request, &trigger);
  if (!status.ok()) {
    handle->end(status);
    return reactor;
  }
  {
    // Lock order: mu_ -> the hub's mutex (the hub never takes mu_).
    std::lock_guard<std::mutex> lock(mu_);
    if (!shutting_down_) {
      std::erase_if(active_streams_, [](const auto& h) { return h->done(); });
      active_streams_.insert(handle);
      sub_id->store(hub_.subscribe(std::move(trigger), std::make_shared<ActiveSink>(handle)),
                    std::memory_order_release);
      return reactor;
    }
  }
  handle->end(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<es::GetMetricSpecResponse>* ExternalScalerService::StreamMetricSpec(
    grpc::CallbackServerContext*, const es::ScaledObjectRef* request) {
  CallTimer timer(metrics_, KedaMethod::kStreamMetricSpec);
  std::shared_ptr<SpecStream> handle;
  auto* reactor = PushStream<es::GetMetricSpecResponse>::create(&handle, [this] {
    metrics_.stream_closed(KedaMethod::kStreamMetricSpec);
  });
  metrics_.stream_opened(KedaMethod::kStreamMetricSpec);
  std::shared_ptr<Trigger> trigger;
  grpc::Status status = find(*request, &trigger);
  if (!status.ok()) {
    handle->end(status);
    return reactor;
  }
  auto sub = std::make_shared<SpecSub>();
  sub->trigger = std::move(trigger);
  sub->stream = handle;
  sub->last = spec_response(*sub->trigger);
  bool shutting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting = shutting_down_;
    if (!shutting) {
      std::erase_if(spec_subs_, [](const auto& s) { return s->stream->done(); });
      spec_subs_.push_back(sub);
    }
  }
  if (shutting) {
    handle->end(grpc::Status::OK);
  } else {
    handle->push(sub->last);  // the current spec at once
  }
  return reactor;
}

void ExternalScalerService::refresh_metric_specs() {
  std::vector<std::pair<std::shared_ptr<SpecStream>, es::GetMetricSpecResponse>> sends;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(spec_subs_, [](const auto& s) { return s->stream->done(); });
    for (auto& sub : spec_subs_) {
      es::GetMetricSpecResponse now = spec_response(*sub->trigger);
      if (now.SerializeAsString() != sub->last.SerializeAsString()) {
        sub->last = now;
        sends.emplace_back(sub->stream, std::move(now));
      }
    }
  }
  for (auto& [stream, msg] : sends) stream->push(msg);
}

void ExternalScalerService::shutdown() {
  std::set<std::shared_ptr<PushStream<es::IsActiveResponse>::Handle>> active;
  std::vector<std::shared_ptr<SpecSub>> specs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
    active.swap(active_streams_);
    specs.swap(spec_subs_);
  }
  for (auto& h : active) h->end(grpc::Status::OK);
  for (auto& s : specs) s->stream->end(grpc::Status::OK);
}

size_t ExternalScalerService::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& h : active_streams_) n += h->done() ? 0 : 1;
  for (const auto& s : spec_subs_) n += s->stream->done() ? 0 : 1;
  return n;
}

}  // namespace lockstep::scaler
