#include "rollout/cluster_state.h"

#include <algorithm>

namespace lockstep::rollout {
namespace {

template <class Map>
void replace_in(Map& map, const std::string& scope, std::vector<typename Map::mapped_type>&& items,
                const std::vector<ObjectKey>& keep, std::vector<ObjectKey>* removed) {
  std::set<ObjectKey> keep_set(keep.begin(), keep.end());
  std::set<ObjectKey> listed;
  for (const auto& item : items) listed.insert(item.meta.key());
  for (auto it = map.begin(); it != map.end();) {
    const bool in_scope = scope.empty() || it->first.ns == scope;
    if (in_scope && !listed.count(it->first) && !keep_set.count(it->first)) {
      if (removed) removed->push_back(it->first);
      it = map.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& item : items) {
    ObjectKey key = item.meta.key();
    map.insert_or_assign(std::move(key), std::move(item));
  }
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
  if (changes_.relisted) return;  // everything is resolved again anyway
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
    // A whole kind is replaced: the route authority resolves everything (its full rebuild).
    changes_ = ClusterChanges::everything();
    switch (kind) {
      case ObjectKind::kScaledObject:
      case ObjectKind::kRollout:
      case ObjectKind::kService: {
        // Same shape for the three maps without indexes.
        auto run = [&](auto& map) {
          using T = typename std::decay_t<decltype(map)>::mapped_type;
          std::vector<T> items;
          items.reserve(objects.size());
          for (auto& o : objects) {
            if (std::holds_alternative<T>(o)) items.push_back(std::move(std::get<T>(o)));
          }
          replace_in(map, scope, std::move(items), keep, nullptr);
        };
        if (kind == ObjectKind::kScaledObject) run(scaled_objects_);
        if (kind == ObjectKind::kRollout) run(rollouts_);
        if (kind == ObjectKind::kService) run(services_);
        break;
      }
      case ObjectKind::kEndpointSlice: {
        std::set<ObjectKey> keep_set(keep.begin(), keep.end());
        std::set<ObjectKey> listed;
        for (const auto& o : objects) listed.insert(meta_of(o).key());
        std::vector<ObjectKey> gone;
        for (const auto& [key, _] : endpoint_slices_) {
          if ((scope.empty() || key.ns == scope) && !listed.count(key) && !keep_set.count(key)) {
            gone.push_back(key);
          }
        }
        for (const auto& key : gone) remove_locked(ObjectKind::kEndpointSlice, key);
        for (auto& o : objects) {
          if (std::holds_alternative<EndpointSlice>(o)) upsert_locked(std::move(o));
        }
        break;
      }
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
