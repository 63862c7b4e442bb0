#include "rollout/cluster_state.h"

#include <algorithm>

namespace lockstep::rollout {
namespace {

// The API server changes an object's resourceVersion on every write: a relisted object with the
// same uid and resourceVersion is the object we hold. (Manifests have none: always a change.)
bool same_version(const ObjectMeta& held, const ObjectMeta& listed) {
  return !listed.resource_version.empty() && held.resource_version == listed.resource_version &&
         held.uid == listed.uid;
}

}  // namespace

ClusterState::ClusterState(Logger log) : log_(std::move(log)) {}

size_t ClusterState::size(ObjectKind kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  switch (kind) {
    case ObjectKind::kScaledObject:
      return scaled_objects_.size();
    case ObjectKind::kRollout:
      return rollouts_.size();
    case ObjectKind::kService:
      return services_.size();
    case ObjectKind::kEndpointSlice:
      return endpoint_slices_.size();
  }
  return 0;
}

void ClusterState::changed() {
  revision_.fetch_add(1, std::memory_order_acq_rel);
  if (on_change_) on_change_();
}

void ClusterState::note_locked(ObjectKind kind, const ObjectKey& key) {
  if (changes_.everything) return;  // everything is resolved again anyway
  switch (kind) {
    case ObjectKind::kScaledObject:
      changes_.scaled_objects.insert(key);
      break;
    case ObjectKind::kRollout:
      changes_.rollouts.insert(key);
      break;
    case ObjectKind::kService:
      changes_.services.insert(key);
      break;
    case ObjectKind::kEndpointSlice: {
      // Recorded as the Service the slice belongs to.
      auto it = endpoint_slices_.find(key);
      if (it != endpoint_slices_.end() && !it->second.service_name.empty()) {
        changes_.services.insert({key.ns, it->second.service_name});
      }
      break;
    }
  }
}

void ClusterState::upsert_locked(AnyObject object) {
  const ObjectKind kind = kind_of(object);
  const ObjectKey key = meta_of(object).key();
  note_locked(kind, key);  // before: an EndpointSlice's old Service
  switch (kind) {
    case ObjectKind::kScaledObject: {
      auto& so = std::get<ScaledObject>(object);
      scaled_objects_.insert_or_assign(so.meta.key(), std::move(so));
      break;
    }
    case ObjectKind::kRollout: {
      auto& ro = std::get<Rollout>(object);
      rollouts_.insert_or_assign(ro.meta.key(), std::move(ro));
      break;
    }
    case ObjectKind::kService: {
      auto& svc = std::get<Service>(object);
      services_.insert_or_assign(svc.meta.key(), std::move(svc));
      break;
    }
    case ObjectKind::kEndpointSlice: {
      auto& es = std::get<EndpointSlice>(object);
      remove_locked(ObjectKind::kEndpointSlice, key);  // its service label may have changed
      if (!es.service_name.empty()) slices_by_service_[{key.ns, es.service_name}].insert(key);
      endpoint_slices_.emplace(key, std::move(es));
      break;
    }
  }
  if (kind == ObjectKind::kEndpointSlice) note_locked(kind, key);  // after: its new Service
}

void ClusterState::remove_locked(ObjectKind kind, const ObjectKey& key) {
  note_locked(kind, key);
  switch (kind) {
    case ObjectKind::kScaledObject:
      scaled_objects_.erase(key);
      break;
    case ObjectKind::kRollout:
      rollouts_.erase(key);
      break;
    case ObjectKind::kService:
      services_.erase(key);
      break;
    case ObjectKind::kEndpointSlice: {
      auto it = endpoint_slices_.find(key);
      if (it == endpoint_slices_.end()) return;
      const ObjectKey svc{key.ns, it->second.service_name};
      if (auto s = slices_by_service_.find(svc); s != slices_by_service_.end()) {
        s->second.erase(key);
        if (s->second.empty()) slices_by_service_.erase(s);
      }
      endpoint_slices_.erase(it);
      break;
    }
  }
}

void ClusterState::replace(ObjectKind kind, const std::string& scope,
                           std::vector<AnyObject> objects, const std::vector<ObjectKey>& keep) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // What is gone: held in scope, neither listed nor kept.
    std::set<ObjectKey> keep_set(keep.begin(), keep.end());
    std::set<ObjectKey> listed;
    for (const auto& o : objects) listed.insert(meta_of(o).key());
    std::vector<ObjectKey> gone;
    auto collect_gone = [&](const auto& map) {
      for (const auto& [key, _] : map) {
        if ((scope.empty() || key.ns == scope) && !listed.count(key) && !keep_set.count(key)) {
          gone.push_back(key);
        }
      }
    };
    auto held_meta = [&](const ObjectKey& key) -> const ObjectMeta* {
      auto find = [&](const auto& map) -> const ObjectMeta* {
        auto it = map.find(key);
        return it == map.end() ? nullptr : &it->second.meta;
      };
      switch (kind) {
        case ObjectKind::kScaledObject:
          return find(scaled_objects_);
        case ObjectKind::kRollout:
          return find(rollouts_);
        case ObjectKind::kService:
          return find(services_);
        case ObjectKind::kEndpointSlice:
          return find(endpoint_slices_);
      }
      return nullptr;
    };
    switch (kind) {
      case ObjectKind::kScaledObject:
        collect_gone(scaled_objects_);
        break;
      case ObjectKind::kRollout:
        collect_gone(rollouts_);
        break;
      case ObjectKind::kService:
        collect_gone(services_);
        break;
      case ObjectKind::kEndpointSlice:
        collect_gone(endpoint_slices_);
        break;
    }
    for (const auto& key : gone) remove_locked(kind, key);
    // A relist after a 410 mostly lists what we hold: only what differs is a change, so the
    // route authority resolves again only the routes that read it.
    for (auto& o : objects) {
      if (kind_of(o) != kind) continue;
      const ObjectMeta* held = held_meta(meta_of(o).key());
      if (held && same_version(*held, meta_of(o))) continue;
      upsert_locked(std::move(o));
    }
  }
  changed();
}

void ClusterState::upsert(AnyObject object) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    upsert_locked(std::move(object));
  }
  changed();
}

void ClusterState::remove(ObjectKind kind, const ObjectKey& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    remove_locked(kind, key);
  }
  changed();
}

void ClusterState::invalid(const ObjectError& error) {
  log_.warn("object skipped", {{"kind", error.kind},
                               {"object", error.ns + "/" + error.name},
                               {"field", error.field},
                               {"error", error.message()}});
  if (on_invalid_) on_invalid_(error);
}

void ClusterState::watch_event(ObjectKind kind, std::string_view type) {
  if (on_watch_event_) on_watch_event_(kind, type);
}

}  // namespace lockstep::rollout
