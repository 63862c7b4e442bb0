#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "aggregator/aggregator.h"
#include "scaler/metric_computation.h"
#include "scaler/scaler_metrics.h"
#include "scaler/trigger_cache.h"

namespace lockstep::scaler {

// Drives StreamIsActive: sends `true` on a stream when its trigger goes from inactive to active,
// and never again while it stays active.
//
// It is woken by the ingest path (aggregator::ActivityListener), so a report carrying a held
// request reaches KEDA without waiting for a poll: the ingest thread only bumps an atomic and
// wakes the hub's thread (futex); it never blocks. The hub arms every route it waits on
// (Route::arm) and disarms routes whose triggers are all active, so busy routes cost nothing.
// tick() (once a second from the maintenance loop) re-evaluates everything, which is how an
// active trigger is seen going inactive (windows decay without any report). proxyFleet triggers
// have no route to arm: they are evaluated on every tick (a fleet never idles at zero for long).
// Thread-safe.
class ActivationHub final : public aggregator::ActivityListener {
 public:
  // Where `true` goes: a StreamIsActive stream (the service adapts its reactor handle).
  class Sink {
   public:
    virtual ~Sink() = default;
    // Sends `true`; must not block, must not call back into the hub. False if the stream is
    // ending.
    virtual bool push_active() = 0;
    // The stream has ended: the hub drops the subscription.
    virtual bool done() const = 0;
  };

  ActivationHub(aggregator::Aggregator& aggregator, const MetricComputation& computation,
                ScalerMetrics& metrics, Logger log);
  ~ActivationHub() override;

  void start();
  void stop();

  // A new stream: it gets `true` at once if its trigger is active now, then on every edge.
  uint64_t subscribe(std::shared_ptr<Trigger> trigger, std::shared_ptr<Sink> sink);
  void unsubscribe(uint64_t id);

  // ActivityListener (ingest thread): wake up, do not block.
  void on_route_activity(aggregator::Route& route, Clock::SteadyTime received) override;

  // Asks for a full re-evaluation (deactivations, re-arming).
  void tick();
  // Runs one evaluation round on the caller's thread (tests; the thread does the same).
  void evaluate(bool full);

  // Inactive->active transitions per route key, for /metrics.
  std::map<std::string, uint64_t> activations() const;
  size_t subscriptions() const;
  uint64_t rounds() const { return rounds_.load(std::memory_order_relaxed); }

 private:
  struct Sub {
    std::shared_ptr<Trigger> trigger;
    std::shared_ptr<Sink> stream;
    bool sent_active = false;
  };
  // What one watch follows: a route (its triggers' subscriptions), or one proxyFleet trigger.
  struct Watch {
    aggregator::Route* route = nullptr;  // null for a proxyFleet trigger
    std::vector<uint64_t> subs;
    bool active = false;      // some trigger of the route was active at the last evaluation
    bool all_active = false;  // every subscribed trigger was: no need to be woken
    bool force = true;        // evaluate at the next round (new subscriber)
    int64_t armed_at_ns = 0;
    std::string key;
  };
  void run();
  void wake();
  void evaluate_locked(Watch& watch, bool signalled);  // mu_ held
  static const void* watch_key(const Trigger& t);
  void drop_from_watch_locked(const Trigger& t, uint64_t id);  // mu_ held

  aggregator::Aggregator& aggregator_;
  const MetricComputation& computation_;
  ScalerMetrics& metrics_;
  Logger log_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Sub> subs_;
  // Keyed by the Route (route triggers, kept alive by the subs' triggers) or the Trigger
  // (proxyFleet ones).
  std::unordered_map<const void*, Watch> watches_;
  std::map<std::string, uint64_t> activations_;

  // Futex word: bumped (release) by wake(), waited on by the thread (acquire).
  std::atomic<uint32_t> wake_seq_{0};
  std::atomic<bool> full_requested_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> rounds_{0};  // relaxed: a statistic
  std::thread thread_;
};

}  // namespace lockstep::scaler
