#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "scaler/trigger_spec.h"

namespace lockstep::scaler {

enum class BackendRole { kStable, kCanary, kOther };
std::string_view backend_role_name(BackendRole r);  // "stable" | "canary" | "other"

struct BackendInfo {
  std::string service;
  BackendRole role = BackendRole::kOther;
};

// The seam through which the rollout module (issue 3: Kubernetes watch, manifest files) tells the
// scaler what it knows before KEDA calls: the ScaledObjects with their lockstep triggers, and each
// route's backends with their roles. The scaler itself learns triggers from KEDA's calls too (the
// TriggerCache); the catalogue adds
//   - pins: a known ScaledObject's routes get their ring shape at once and are never evicted;
//   - roles: per-backend series are labelled stable/canary/other in /metrics;
//   - the parsed trigger specs, which the rollout module uses to build the route table.
// The rollout module depends on scaler/, never the reverse; it owns when to call these.
// Thread-safe.
class TriggerCatalogue {
 public:
  explicit TriggerCatalogue(aggregator::Aggregator& aggregator);
  ~TriggerCatalogue();

  struct ScaledObjectTriggers {
    std::string route_namespace;
    std::string route_name;
    // One entry per lockstep trigger of the ScaledObject (its `metadata`).
    std::vector<std::map<std::string, std::string>> trigger_metadata;
  };
  // Replaces what is known of one ScaledObject. Returns one result per trigger (errors name the
  // key, value and rule, for the caller to report on the object).
  std::vector<ParseResult> upsert(const ScaledObjectTriggers& so);
  void remove(const std::string& route_namespace, const std::string& route_name);

  // The route's backends and their roles ("namespace/name" key).
  void set_backends(const std::string& route_key, std::vector<BackendInfo> backends);
  void remove_backends(const std::string& route_key);
  BackendRole role(const std::string& route_key, const std::string& backend) const;

  // Every valid route trigger known (for the route table; proxyFleet triggers route nothing).
  std::vector<TriggerSpec> triggers() const;

  // Called (outside the catalogue's lock) after any change, e.g. to refresh StreamMetricSpec.
  void on_change(std::function<void()> callback);

 private:
  struct Known {
    std::vector<TriggerSpec> specs;
    std::vector<aggregator::RoutePin> pins;
  };
  void changed();

  aggregator::Aggregator& aggregator_;
  mutable std::mutex mu_;
  std::map<std::string, Known> objects_;                         // guarded by mu_
  std::map<std::string, std::map<std::string, BackendRole>> roles_;  // guarded by mu_
  std::vector<std::function<void()>> callbacks_;                 // guarded by mu_
};

}  // namespace lockstep::scaler
