#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "rollout/object_source.h"

namespace lockstep::rollout {

// What the resolver reads: every object by kind, keyed by namespace/name, plus EndpointSlices
// indexed by the Service they belong to.
struct ClusterView {
  const std::map<ObjectKey, ScaledObject>& scaled_objects;
  const std::map<ObjectKey, Rollout>& rollouts;
  const std::map<ObjectKey, Service>& services;
  const std::map<ObjectKey, EndpointSlice>& endpoint_slices;
  // (namespace, service name) -> slice keys, sorted.
  const std::map<ObjectKey, std::set<ObjectKey>>& slices_by_service;
};

// What changed in the model since the last drain: the keys a resolver must look at again. A
// Service key stands for the Service and for every EndpointSlice labelled with its name (before
// and after the change). A relist (replace) records only what differs from what is held (by uid
// and resourceVersion). `everything`: resolve everything (the journal's start, and a consumer's
// full rebuild); the key sets are then left empty.
struct ClusterChanges {
  bool everything = false;
  std::set<ObjectKey> scaled_objects;
  std::set<ObjectKey> rollouts;
  std::set<ObjectKey> services;
  static ClusterChanges all() {
    ClusterChanges c;
    c.everything = true;
    return c;
  }
  bool empty() const {
    return !everything && scaled_objects.empty() && rollouts.empty() && services.empty();
  }
};

// The in-memory model every source feeds (an ObjectSink). Thread-safe; each change bumps a
// revision, is recorded in the change journal, and calls the change callback outside the lock.
class ClusterState : public ObjectSink {
 public:
  using InvalidReporter = std::function<void(const ObjectError&)>;
  using WatchEventReporter = std::function<void(ObjectKind, std::string_view)>;

  explicit ClusterState(Logger log);

  // Called (outside the lock) after every change. Set before sources start.
  void on_change(std::function<void()> callback) { on_change_ = std::move(callback); }
  void on_invalid(InvalidReporter reporter) { on_invalid_ = std::move(reporter); }
  void on_watch_event(WatchEventReporter reporter) { on_watch_event_ = std::move(reporter); }

  // Runs `reader` with a consistent view under the lock (keep it short: sources wait).
  template <class Reader>
  auto read(Reader&& reader) const {
    std::lock_guard<std::mutex> lock(mu_);
    ClusterView view{scaled_objects_, rollouts_, services_, endpoint_slices_, slices_by_service_};
    return reader(view);
  }
  // Like read(), and hands `reader` the changes since the last drain, then forgets them (one
  // consumer: the route authority). Starts with `everything` set.
  template <class Reader>
  auto drain(Reader&& reader) {
    std::lock_guard<std::mutex> lock(mu_);
    ClusterView view{scaled_objects_, rollouts_, services_, endpoint_slices_, slices_by_service_};
    ClusterChanges changes = std::move(changes_);
    changes_ = ClusterChanges{};
    return reader(view, changes);
  }
  uint64_t revision() const { return revision_.load(std::memory_order_acquire); }
  size_t size(ObjectKind kind) const;

  // ObjectSink
  void replace(ObjectKind kind, const std::string& scope, std::vector<AnyObject> objects,
               const std::vector<ObjectKey>& keep) override;
  void upsert(AnyObject object) override;
  void remove(ObjectKind kind, const ObjectKey& key) override;
  void invalid(const ObjectError& error) override;
  void watch_event(ObjectKind kind, std::string_view type) override;

 private:
  void upsert_locked(AnyObject object);
  void remove_locked(ObjectKind kind, const ObjectKey& key);
  void changed();
  void note_locked(ObjectKind kind, const ObjectKey& key);

  Logger log_;
  std::function<void()> on_change_;
  InvalidReporter on_invalid_;
  WatchEventReporter on_watch_event_;

  mutable std::mutex mu_;
  std::map<ObjectKey, ScaledObject> scaled_objects_;         // guarded by mu_
  std::map<ObjectKey, Rollout> rollouts_;                    // guarded by mu_
  std::map<ObjectKey, Service> services_;                    // guarded by mu_
  std::map<ObjectKey, EndpointSlice> endpoint_slices_;       // guarded by mu_
  std::map<ObjectKey, std::set<ObjectKey>> slices_by_service_;  // guarded by mu_
  ClusterChanges changes_ = ClusterChanges::all();  // guarded by mu_
  std::atomic<uint64_t> revision_{0};  // release on change, acquire by readers of revision()
};

}  // namespace lockstep::rollout
