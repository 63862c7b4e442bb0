#pragma once

// Typed subsets of the Kubernetes objects lockstep reads: keda.sh/v1alpha1 ScaledObject,
// argoproj.io/v1alpha1 Rollout, v1 Service and discovery.k8s.io/v1 EndpointSlice. Parsed from
// JSON (the API server's, or YAML converted by rollout/yaml_json.h); unknown fields are ignored,
// a field of the wrong type is an ObjectError naming the object and the field path. Part of
// lockstep_rollout_model: nlohmann-json only, static-link friendly.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lockstep::rollout {

enum class ObjectKind { kScaledObject, kRollout, kService, kEndpointSlice };
inline constexpr size_t kObjectKinds = 4;
std::string_view kind_name(ObjectKind kind);  // "ScaledObject", ...

struct ObjectKey {
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
  std::string str() const { return ns + "/" + name; }
};

struct ObjectMeta {
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  bool deleting = false;  // deletionTimestamp is set
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  ObjectKey key() const { return {ns, name}; }
};

struct ScaledObject {
  ObjectMeta meta;
  struct TargetRef {
    std::string api_version = "apps/v1";
    std::string kind = "Deployment";
    std::string name;
  } target;
  std::optional<int32_t> min_replicas;
  std::optional<int32_t> max_replicas;
  struct Trigger {
    std::string type;         // "external", "external-push", "prometheus", ...
    std::string name;         // optional
    std::string metric_type;  // "AverageValue" (default) or "Value"
    std::map<std::string, std::string> metadata;
  };
  std::vector<Trigger> triggers;

  // scaleTargetRef names an Argo Rollout (kind Rollout, group argoproj.io).
  bool targets_rollout() const;
};

struct WeightDestination {
  int32_t weight = 0;
  std::string service_name;
  std::string pod_template_hash;
};

struct Rollout {
  ObjectMeta meta;
  std::optional<int32_t> replicas;  // absent: 1
  struct CanaryStep {
    std::optional<int32_t> set_weight;
    struct CanaryScale {
      std::optional<int32_t> replicas;
      std::optional<int32_t> weight;
      bool match_traffic_weight = false;
    };
    std::optional<CanaryScale> set_canary_scale;
  };
  struct Canary {
    std::string stable_service;
    std::string canary_service;
    bool dynamic_stable_scale = false;
    std::optional<int32_t> min_pods_per_replica_set;
    std::optional<int32_t> abort_scale_down_delay_seconds;
    bool traffic_routing = false;  // trafficRouting is set
    int32_t max_traffic_weight = 100;
    std::vector<std::string> traffic_router_plugins;  // keys of trafficRouting.plugins
    std::vector<CanaryStep> steps;
  };
  std::optional<Canary> canary;
  struct BlueGreen {
    std::string active_service;
    std::string preview_service;
  };
  std::optional<BlueGreen> blue_green;
  struct Status {
    std::optional<int32_t> hpa_replicas;
    bool abort = false;
    bool promote_full = false;
    std::string stable_rs;
    std::string current_pod_hash;
    std::optional<int32_t> current_step_index;
    struct Weights {
      WeightDestination canary;
      WeightDestination stable;
      std::vector<WeightDestination> additional;
      std::optional<bool> verified;
    };
    std::optional<Weights> weights;  // status.canary.weights
  } status;

  int32_t replicas_or_default() const { return replicas.value_or(1); }
};

struct Service {
  ObjectMeta meta;
  struct Port {
    std::string name;
    int32_t port = 0;
    std::string protocol = "TCP";
    std::optional<int32_t> target_port_number;  // targetPort as a number, or
    std::string target_port_name;               // as a container port name
  };
  std::vector<Port> ports;
  std::map<std::string, std::string> selector;
  std::string type = "ClusterIP";
};

inline constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";

struct EndpointSlice {
  ObjectMeta meta;
  std::string service_name;  // from the kubernetes.io/service-name label
  std::string address_type;  // IPv4 | IPv6 | FQDN
  struct Port {
    std::string name;
    std::optional<int32_t> port;
    std::string protocol = "TCP";
  };
  std::vector<Port> ports;
  struct Endpoint {
    std::vector<std::string> addresses;
    std::optional<bool> ready;  // nil means unknown, which consumers treat as ready
    std::optional<bool> serving;
    std::optional<bool> terminating;
    std::string target_kind;
    std::string target_name;
    bool is_ready() const { return ready.value_or(true); }
  };
  std::vector<Endpoint> endpoints;
};

using AnyObject = std::variant<ScaledObject, Rollout, Service, EndpointSlice>;
ObjectKind kind_of(const AnyObject& object);
const ObjectMeta& meta_of(const AnyObject& object);

// What went wrong with one object: enough to find it and fix it.
struct ObjectError {
  std::string kind;  // as written in the object (may be unknown)
  std::string ns;
  std::string name;
  std::string field;   // path: "spec.triggers[1].metadata.port"
  std::string reason;  // "must be a string"
  // "ScaledObject shop/recommender: spec.triggers[1].metadata.port: must be a string"
  std::string message() const;
};

struct ParsedObject {
  std::optional<AnyObject> object;
  std::optional<ObjectError> error;
  bool ignored = false;  // a kind lockstep does not read (ConfigMap, Deployment, ...): no error
};

// Parses any object by apiVersion + kind. `default_namespace` fills a missing
// metadata.namespace (manifest files); with none, a missing namespace is an error.
ParsedObject parse_object(const nlohmann::json& object, std::string_view default_namespace = {});
// The same, for an object known to be of `kind` (a watch of one resource type).
ParsedObject parse_object_as(ObjectKind kind, const nlohmann::json& object,
                             std::string_view default_namespace = {});

}  // namespace lockstep::rollout
