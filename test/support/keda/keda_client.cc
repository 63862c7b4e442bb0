#include "test/support/keda/keda_client.h"

#include <cmath>

namespace lockstep::keda {

namespace es = externalscaler;
using namespace std::chrono_literals;

KedaClient::KedaClient(KedaOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  // KEDA: round_robin over the resolved addresses, no keepalive, no retries of its own here.
  args.SetLoadBalancingPolicyName("round_robin");
  channel_ = grpc::CreateCustomChannel(
      options_.address,
      options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(), args);
  stub_ = es::ExternalScaler::NewStub(channel_);
}

KedaClient::~KedaClient() { stop_streams(); }

es::ScaledObjectRef KedaClient::ref(size_t trigger) const {
  es::ScaledObjectRef r;
  r.set_name(options_.name);
  r.set_namespace_(options_.ns);
  for (const auto& [k, v] : options_.triggers[trigger].metadata) (*r.mutable_scalermetadata())[k] = v;
  return r;
}

namespace {

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d) {
  ctx.set_deadline(std::chrono::system_clock::now() + d);
}

bool path_safe(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos &&
         n.find('%') == std::string::npos;
}

// KEDA: the float when > 0, else the int; milli precision; negatives, NaN, Inf -> 0.
double keda_value(const es::MetricValue& v) {
  double x = v.metricvaluefloat() > 0 ? v.metricvaluefloat() : static_cast<double>(v.metricvalue());
  if (!std::isfinite(x) || x < 0) return 0;
  return std::round(x * 1000) / 1000;
}

StreamEvent make_event(StreamEvent::Kind kind, size_t trigger) {
  StreamEvent e{};
  e.kind = kind;
  e.trigger = trigger;
  e.at = std::chrono::steady_clock::now();
  return e;
}

double keda_target(const es::MetricSpec& s) {
  const double t = s.targetsizefloat() > 0 ? s.targetsizefloat() : static_cast<double>(s.targetsize());
  return std::round(t * 1000) / 1000;
}

}  // namespace

grpc::Status KedaClient::reconcile(std::vector<std::vector<SpecView>>* out) {
  if (out) out->clear();
  for (size_t i = 0; i < options_.triggers.size(); ++i) {
    grpc::ClientContext ctx;
    set_deadline(ctx, options_.call_deadline);
    es::GetMetricSpecResponse resp;
    grpc::Status s = stub_->GetMetricSpec(&ctx, ref(i), &resp);
    if (!s.ok()) return s;
    if (resp.metricspecs_size() == 0) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "got empty metric spec");
    }
    std::vector<SpecView> specs;
    for (const auto& spec : resp.metricspecs()) {
      if (!path_safe(spec.metricname())) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "metric name not path-safe: " + spec.metricname());
      }
      const double target = keda_target(spec);
      if (target <= 0) return grpc::Status(grpc::StatusCode::INTERNAL, "target must be positive");
      specs.push_back({spec.metricname(), target});
    }
    if (out) out->push_back(std::move(specs));
  }
  return grpc::Status::OK;
}

PollResult KedaClient::poll() {
  const auto start = std::chrono::steady_clock::now();
  PollResult result;
  for (size_t i = 0; i < options_.triggers.size(); ++i) {
    TriggerPoll tp;
    const es::ScaledObjectRef r = ref(i);
    es::GetMetricSpecResponse spec_resp;
    grpc::Status s;
    for (int attempt = 0; attempt < 2; ++attempt) {
      grpc::ClientContext ctx;
      set_deadline(ctx, options_.call_deadline);
      spec_resp.Clear();
      s = stub_->GetMetricSpec(&ctx, r, &spec_resp);
      if (s.ok() && spec_resp.metricspecs_size() > 0) break;
    }
    if (!s.ok() || spec_resp.metricspecs_size() == 0) {
      tp.error = s.ok() ? grpc::Status(grpc::StatusCode::INTERNAL, "got empty metric spec") : s;
      result.triggers.push_back(std::move(tp));
      continue;
    }
    for (const auto& spec : spec_resp.metricspecs()) {
      tp.specs.push_back({spec.metricname(), keda_target(spec)});
      es::GetMetricsResponse metrics;
      es::IsActiveResponse active;
      grpc::Status ms, as;
      for (int attempt = 0; attempt < 2; ++attempt) {
        es::GetMetricsRequest req;
        *req.mutable_scaledobjectref() = r;
        req.set_metricname(spec.metricname());
        grpc::ClientContext mctx;
        set_deadline(mctx, options_.call_deadline);
        metrics.Clear();
        ms = stub_->GetMetrics(&mctx, req, &metrics);
        if (ms.ok()) {
          grpc::ClientContext actx;
          set_deadline(actx, options_.call_deadline);
          as = stub_->IsActive(&actx, r, &active);
        }
        if (ms.ok() && as.ok()) break;
      }
      if (!ms.ok() || !as.ok()) {
        tp.error = !ms.ok() ? ms : as;
        break;
      }
      double sum = 0;
      for (const auto& v : metrics.metricvalues()) sum += keda_value(v);  // the HPA sums them
      tp.values.push_back(sum);
      tp.active = tp.active || active.result();
      const double target = tp.specs.back().target;
      tp.desired_replicas =
          std::max<int64_t>(tp.desired_replicas, static_cast<int64_t>(std::ceil(sum / target)));
    }
    result.active = result.active || tp.active;
    result.desired_replicas = std::max(result.desired_replicas, tp.desired_replicas);
    result.triggers.push_back(std::move(tp));
  }
  result.took = std::chrono::steady_clock::now() - start;
  return result;
}

void KedaClient::start_streams() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  for (size_t i = 0; i < options_.triggers.size(); ++i) {
    threads_.emplace_back([this, i] { stream_is_active_loop(i); });
    if (options_.stream_metric_spec) threads_.emplace_back([this, i] { stream_metric_spec_loop(i); });
  }
}

void KedaClient::stop_streams() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& c : contexts_) c->TryCancel();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  contexts_.clear();
}

bool KedaClient::pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_; });
  return !stopping_;
}

void KedaClient::record(StreamEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void KedaClient::stream_is_active_loop(size_t trigger) {
  std::chrono::milliseconds delay = options_.stream_backoff_base;
  while (true) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    // Long-lived, but never unbounded.
    set_deadline(*ctx, std::chrono::hours(24));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      contexts_.push_back(ctx);
    }
    auto reader = stub_->StreamIsActive(ctx.get(), ref(trigger));
    es::IsActiveResponse msg;
    while (reader->Read(&msg)) {
      if (msg.result()) record(make_event(StreamEvent::kActive, trigger));
      // `false` is ignored (KEDA >= 2.18).
    }
    grpc::Status s = reader->Finish();
    StreamEvent ended = make_event(StreamEvent::kEnded, trigger);
    ended.status = s.error_code();
    ended.message = s.error_message();
    record(std::move(ended));
    // KEDA: wait the delay, then double it (capped); an OK end resets it to the base first.
    if (s.ok()) delay = options_.stream_backoff_base;
    {
      std::lock_guard<std::mutex> lock(mu_);
      backoffs_[trigger].push_back(delay);
      std::erase(contexts_, ctx);
    }
    if (!pause(delay)) return;
    delay = std::min(delay * 2, options_.stream_backoff_max);
  }
}

void KedaClient::stream_metric_spec_loop(size_t trigger) {
  std::chrono::milliseconds delay = options_.stream_backoff_base;
  while (true) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    set_deadline(*ctx, std::chrono::hours(24));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      contexts_.push_back(ctx);
    }
    auto reader = stub_->StreamMetricSpec(ctx.get(), ref(trigger));
    es::GetMetricSpecResponse msg;
    bool got_one = false;
    while (reader->Read(&msg)) {
      got_one = true;
      StreamEvent e = make_event(StreamEvent::kSpec, trigger);
      for (const auto& s : msg.metricspecs()) e.specs.push_back({s.metricname(), keda_target(s)});
      record(std::move(e));
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase(contexts_, ctx);
    }
    StreamEvent ended = make_event(StreamEvent::kSpecEnded, trigger);
    ended.status = s.error_code();
    ended.message = s.error_message();
    record(std::move(ended));
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return;  // stop for good
    if (s.ok() || got_one) delay = options_.stream_backoff_base;
    if (!pause(delay)) return;
    delay = std::min(delay * 2, options_.stream_backoff_max);
  }
}

std::vector<StreamEvent> KedaClient::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

bool KedaClient::wait_for(const std::function<bool(const std::vector<StreamEvent>&)>& pred,
                          std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
}

size_t KedaClient::count(StreamEvent::Kind kind, size_t trigger) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& e : events_) n += (e.kind == kind && e.trigger == trigger) ? 1 : 0;
  return n;
}

std::vector<std::chrono::milliseconds> KedaClient::backoffs(size_t trigger) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = backoffs_.find(trigger);
  return it == backoffs_.end() ? std::vector<std::chrono::milliseconds>{} : it->second;
}

}  // namespace lockstep::keda
