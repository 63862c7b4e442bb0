#include "demo/keda_operator.h"

#include <cmath>
#include <cstdio>

#include "test/support/keda/keda_client.h"

namespace lockstep::demo {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

HpaSettings hpa_settings(const KedaOperator::Options& o) {
  HpaSettings s;
  s.tolerance = o.tolerance;
  s.scale_up_stabilization = o.scaled_object.scale_up_stabilization;
  s.scale_down_stabilization = o.scaled_object.scale_down_stabilization;
  s.min_replicas = std::max(1, o.scaled_object.min_replicas);
  s.max_replicas = o.scaled_object.max_replicas;
  return s;
}

}  // namespace

KedaOperator::KedaOperator(Options options, ScaleTarget target, Journal& journal)
    : options_(std::move(options)),
      target_(std::move(target)),
      journal_(journal),
      stabilizer_(hpa_settings(options_)) {
  keda::KedaOptions ko;
  ko.address = options_.scaler_address;
  ko.ns = options_.scaled_object.ns;
  ko.name = options_.scaled_object.name;
  for (const auto& t : options_.scaled_object.triggers) {
    if (t.type == "external-push" || t.type == "external") ko.triggers.push_back({t.metadata});
  }
  client_ = std::make_unique<keda::KedaClient>(std::move(ko));
}

KedaOperator::~KedaOperator() { stop(); }

bool KedaOperator::start(std::string* error) {
  // KEDA's reconcile: the HPA is built from GetMetricSpec; a refusal is the ScaledObject's error.
  grpc::Status s;
  const auto deadline = SteadyClock::now() + 10s;
  do {
    s = client_->reconcile();
    if (s.ok()) break;
    std::this_thread::sleep_for(100ms);  // the scaler may still be binding; KEDA retries too
  } while (SteadyClock::now() < deadline);
  if (!s.ok()) {
    *error = "GetMetricSpec: " + s.error_message();
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(scale_mu_);
    last_active_ = SteadyClock::now() - options_.scaled_object.cooldown;
  }
  bool push = false;
  for (const auto& t : options_.scaled_object.triggers) push = push || t.type == "external-push";
  if (push) client_->start_streams();
  threads_.emplace_back([this] { stream_loop(); });
  threads_.emplace_back([this] { polling_loop(); });
  threads_.emplace_back([this] { hpa_loop(); });
  journal_.add("KEDA", "ScaledObject " + options_.scaled_object.ns + "/" + options_.scaled_object.name +
                           " reconciled; StreamIsActive open, polling every " +
                           std::to_string(options_.scaled_object.polling_interval.count()) + " ms");
  return true;
}

void KedaOperator::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (client_) client_->stop_streams();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool KedaOperator::sleep_until(SteadyClock::time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_until(lock, until, [this] { return stopping_; });
}

KedaOperator::View KedaOperator::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

std::vector<SteadyClock::time_point> KedaOperator::activations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return activations_;
}

std::optional<SteadyClock::time_point> KedaOperator::wait_activation(SteadyClock::time_point after,
                                                                     std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<SteadyClock::time_point> found;
  cv_.wait_for(lock, timeout, [&] {
    for (auto t : activations_) {
      if (t >= after) {
        found = t;
        return true;
      }
    }
    return stopping_;
  });
  return found;
}

void KedaOperator::activate(const std::string& why) {
  // Called with scale_mu_ held.
  last_active_ = SteadyClock::now();
  if (target_.spec_replicas() == 0) {
    const int32_t to = std::max(1, options_.scaled_object.min_replicas);
    target_.set_replicas(to);
    stabilizer_.reset();
    journal_.add("KEDA", "activated 0 -> " + std::to_string(to) + " (" + why + ")");
  }
}

void KedaOperator::stream_loop() {
  size_t seen = 0;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    client_->wait_for([&](const std::vector<keda::StreamEvent>& events) { return events.size() > seen; },
                      100ms);
    const auto events = client_->events();
    for (; seen < events.size(); ++seen) {
      const auto& e = events[seen];
      if (e.kind == keda::StreamEvent::kActive) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          activations_.push_back(e.at);
        }
        cv_.notify_all();
        std::lock_guard<std::mutex> lock(scale_mu_);
        activate("StreamIsActive sent true");
      } else if (e.kind == keda::StreamEvent::kEnded && e.status != grpc::StatusCode::CANCELLED) {
        journal_.add("KEDA", "StreamIsActive ended (" + std::to_string(e.status) + " " + e.message +
                                 "), reopening with backoff");
      }
    }
  }
}

void KedaOperator::polling_loop() {
  auto next = SteadyClock::now();
  while (sleep_until(next)) {
    next += options_.scaled_object.polling_interval;
    const keda::PollResult poll = client_->poll();
    bool failed = false;
    for (const auto& t : poll.triggers) {
      if (t.error) {
        failed = true;
        std::lock_guard<std::mutex> lock(mu_);
        ++view_.errors;
        view_.last_error = t.error->error_message();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++view_.polls;
      view_.active = poll.active;
    }
    std::lock_guard<std::mutex> lock(scale_mu_);
    const int32_t replicas = target_.spec_replicas();
    if (poll.active) {
      if (!failed || replicas == 0) activate("polling: IsActive true");
    } else if (!failed && replicas > 0 && options_.scaled_object.min_replicas == 0 &&
               SteadyClock::now() - last_active_ >= options_.scaled_object.cooldown) {
      target_.set_replicas(0);
      stabilizer_.reset();
      journal_.add("KEDA", "inactive for cooldownPeriod: scaled " + std::to_string(replicas) + " -> 0");
    } else if (!failed && replicas > 0 && replicas < options_.scaled_object.min_replicas) {
      target_.set_replicas(options_.scaled_object.min_replicas);
    }
  }
}

void KedaOperator::hpa_loop() {
  auto next = SteadyClock::now();
  while (sleep_until(next)) {
    next += options_.hpa_sync_period;
    if (target_.spec_replicas() == 0) continue;  // KEDA's 0 <-> 1 range: the HPA is idle
    const keda::PollResult poll = client_->poll();
    int32_t recommendation = 0;
    double metric = 0, target = 0;
    bool ok = !poll.triggers.empty();
    const int32_t status = target_.status_replicas();
    for (const auto& t : poll.triggers) {
      if (t.error || t.values.size() != t.specs.size()) {
        ok = false;
        continue;
      }
      for (size_t i = 0; i < t.specs.size(); ++i) {
        if (metric == 0 && target == 0) {
          metric = t.values[i];
          target = t.specs[i].target;
        }
        // Several metrics: the HPA takes the largest recommendation.
        recommendation = std::max(recommendation,
                                  hpa_metric_replicas(t.values[i], t.specs[i].target, status, options_.tolerance));
      }
    }
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      ++view_.errors;
      continue;  // the HPA keeps the current count when the metric cannot be read
    }
    std::lock_guard<std::mutex> scale_lock(scale_mu_);
    const int32_t current = target_.spec_replicas();
    if (current == 0) continue;
    const int32_t desired = stabilizer_.decide(SteadyClock::now(), recommendation, current);
    {
      std::lock_guard<std::mutex> lock(mu_);
      view_.metric = metric;
      view_.target = target;
      view_.hpa_recommendation = recommendation;
      view_.hpa_desired = desired;
    }
    if (desired != current) {
      target_.set_replicas(desired);
      journal_.add("HPA", "scaled " + std::to_string(current) + " -> " + std::to_string(desired) +
                              " (metric " + fmt(metric) + " / target " + fmt(target) + ", " +
                              std::to_string(status) + " running)");
    }
  }
}

}  // namespace lockstep::demo
