#include "scaler/activation_hub.h"

#include <algorithm>

namespace lockstep::scaler {

ActivationHub::ActivationHub(aggregator::Aggregator& aggregator,
                             const MetricComputation& computation, ScalerMetrics& metrics,
                             Logger log)
    : aggregator_(aggregator), computation_(computation), metrics_(metrics), log_(std::move(log)) {}

ActivationHub::~ActivationHub() { stop(); }

void ActivationHub::start() {
  if (thread_.joinable()) return;
  stopping_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
}

void ActivationHub::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);
  wake();
  thread_.join();
}

void ActivationHub::wake() {
  wake_seq_.fetch_add(1, std::memory_order_release);
  wake_seq_.notify_one();
}

void ActivationHub::run() {
  while (true) {
    // Load before evaluating: a wake-up during the round changes the word, so wait() returns.
    const uint32_t seen = wake_seq_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_relaxed)) return;
    evaluate(full_requested_.exchange(false, std::memory_order_relaxed));
    wake_seq_.wait(seen, std::memory_order_acquire);
  }
}

void ActivationHub::on_route_activity(aggregator::Route&, Clock::SteadyTime) { wake(); }

void ActivationHub::tick() {
  full_requested_.store(true, std::memory_order_relaxed);
  wake();
}

const void* ActivationHub::watch_key(const Trigger& t) {
  return t.is_fleet() ? static_cast<const void*>(&t) : static_cast<const void*>(t.pin.get());
}

void ActivationHub::drop_from_watch_locked(const Trigger& t, uint64_t id) {
  auto w = watches_.find(watch_key(t));
  if (w == watches_.end()) return;
  std::erase(w->second.subs, id);
  if (w->second.subs.empty()) {
    activations_.erase(w->second.key);
    watches_.erase(w);
  }
}

uint64_t ActivationHub::subscribe(std::shared_ptr<Trigger> trigger, std::shared_ptr<Sink> stream) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    Watch& w = watches_[watch_key(*trigger)];
    w.route = trigger->is_fleet() ? nullptr : trigger->pin.get();
    w.key = trigger->spec.route_key;
    w.subs.push_back(id);
    w.force = true;
    subs_.emplace(id, Sub{std::move(trigger), std::move(stream), false});
  }
  wake();
  return id;
}

void ActivationHub::unsubscribe(uint64_t id) {
  std::shared_ptr<Trigger> release;  // dropped outside the lock (its pin takes a mutex)
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  release = std::move(it->second.trigger);
  subs_.erase(it);
  drop_from_watch_locked(*release, id);
}

void ActivationHub::evaluate(bool full) {
  std::vector<std::shared_ptr<Trigger>> released;
  std::lock_guard<std::mutex> lock(mu_);
  rounds_.fetch_add(1, std::memory_order_relaxed);
  // Streams that ended without unsubscribing (or before they could) go now.
  for (auto it = subs_.begin(); it != subs_.end();) {
    if (!it->second.stream->done()) {
      ++it;
      continue;
    }
    drop_from_watch_locked(*it->second.trigger, it->first);
    released.push_back(std::move(it->second.trigger));
    it = subs_.erase(it);
  }
  // Arm first, pass the gate, then read: a report landing meanwhile is either seen here or
  // disarms the route and wakes us again (Aggregator::pass_activity_gate).
  std::vector<std::pair<Watch*, bool>> due;
  const int64_t now_ns = aggregator_.clock().steady_now().time_since_epoch().count();
  for (auto& [key, w] : watches_) {
    aggregator::Route* route = w.route;
    if (route == nullptr) {
      // proxyFleet: nothing to arm; evaluated on ticks and for new subscribers.
      if (full || w.force) {
        w.force = false;
        due.emplace_back(&w, false);
      }
      continue;
    }
    // Disarmed by a report since we armed it (not merely never armed).
    const bool signalled = w.armed_at_ns != 0 && !route->armed() &&
                           route->signal_steady_ns() >= w.armed_at_ns;
    if (!full && !w.force && (w.all_active || route->armed())) continue;
    w.force = false;
    w.armed_at_ns = now_ns;
    route->arm();
    due.emplace_back(&w, signalled);
  }
  if (due.empty()) return;
  aggregator_.pass_activity_gate();
  for (auto& [w, signalled] : due) evaluate_locked(*w, signalled);
}

void ActivationHub::evaluate_locked(Watch& w, bool signalled) {
  bool route_active = false;
  bool any_inactive = false;
  bool sent = false;
  for (uint64_t id : w.subs) {
    Sub& sub = subs_.at(id);
    const MetricReading r = computation_.read_trigger(*sub.trigger);
    if (r.active) {
      route_active = true;
      if (!sub.sent_active) {
        // push_active() never blocks; a reaction it triggers inline never takes mu_.
        if (sub.stream->push_active()) {
          sub.sent_active = true;
          sent = true;
        }
      }
    } else {
      sub.sent_active = false;
      any_inactive = true;
    }
  }
  if (route_active && !w.active) {
    ++activations_[w.key];
    if (sent && signalled && w.route != nullptr) {
      const int64_t signal_ns = w.route->signal_steady_ns();
      const int64_t now_ns = aggregator_.clock().steady_now().time_since_epoch().count();
      metrics_.activation_latency(std::chrono::nanoseconds(std::max<int64_t>(0, now_ns - signal_ns)));
    }
    log_.debug("route active", {{"route", w.key}});
  }
  w.active = route_active;
  w.all_active = !any_inactive;
  // Every stream already knows: no wake-ups needed.
  if (w.all_active && w.route != nullptr) w.route->disarm();
}

std::map<std::string, uint64_t> ActivationHub::activations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return activations_;
}

size_t ActivationHub::subscriptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.size();
}

}  // namespace lockstep::scaler
