#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregator/route.h"

namespace lockstep::scaler {

enum class ScalingMetric { kRequestRate, kConcurrency };
std::string_view scaling_metric_name(ScalingMetric m);  // "requestRate" | "concurrency"

// One lockstep trigger of a ScaledObject, parsed from its metadata (the same keys whether it came
// from KEDA's calls or from the ScaledObject in Kubernetes).
struct TriggerSpec {
  // The ScaledObject: the route key is "namespace/name".
  std::string route_namespace;
  std::string route_name;
  std::string route_key;

  std::vector<std::string> hosts;          // exact names or "*.domain", lower case
  std::vector<std::string> path_prefixes;  // each starts with "/"; default {"/"}
  std::string service;                     // backend Service (when no Rollout names them)
  std::optional<uint16_t> port;            // backend port, or
  std::string port_name;                   // its name
  std::string rollout;                     // Argo Rollout whose stable/canary Services serve it
  // proxyFleet: "namespace/name" of a proxy Deployment. Such a trigger routes nothing (no hosts):
  // its metric is the concurrency summed over that fleet's proxies and every route they carry.
  std::string proxy_fleet;
  bool is_fleet() const { return !proxy_fleet.empty(); }

  ScalingMetric metric = ScalingMetric::kRequestRate;
  double target_value = 0;                 // per replica, > 0
  std::chrono::milliseconds window{std::chrono::minutes(1)};
  std::chrono::milliseconds granularity{std::chrono::seconds(1)};
  double activation_value = 0;

  // The metric name given to KEDA: lower case, path-safe, at most kMaxMetricName bytes.
  std::string metric_name;

  // Keys this parser does not know and KEDA does not use: kept for extensions (issue 3's
  // rollout-aware mode reads its own keys from here).
  std::map<std::string, std::string> extra;
  // Human-readable warnings (unknown keys, likely typos). Not errors.
  std::vector<std::string> warnings;

  aggregator::RouteShape shape() const {
    return {static_cast<uint32_t>(granularity.count()), static_cast<uint32_t>(window.count())};
  }
};

// A rule a metadata value broke: the key, the value as given, and the rule.
struct MetadataError {
  std::string key;
  std::string value;
  std::string rule;
  // e.g.: trigger metadata "window" = "90s": must be a multiple of granularity (1m)
  std::string message() const;
};

constexpr size_t kMaxMetricName = 63;
constexpr size_t kMaxBucketsPerWindow = 3600;

// Parses and validates one trigger's metadata. `name`/`namespace` are the ScaledObject's.
// Keys KEDA itself consumes (scalerAddress, enableTLS, ...) are ignored; unknown keys become
// warnings (with a suggestion when one is a likely misspelling of a known key).
struct ParseResult {
  std::optional<TriggerSpec> spec;
  std::optional<MetadataError> error;
};
ParseResult parse_trigger_metadata(std::string_view route_namespace, std::string_view route_name,
                                   const std::map<std::string, std::string>& metadata);

// Every trigger metadata key the scaler reads (its own and its extensions'), for docs checks.
std::vector<std::string_view> trigger_metadata_keys();

// "lockstep-requestrate-<ns>-<name>" / "lockstep-concurrency-<ns>-<name>", shortened with a hash
// when longer than kMaxMetricName.
std::string metric_name_for(ScalingMetric metric, std::string_view route_namespace,
                            std::string_view route_name);
// "lockstep-fleet-concurrency-<ns>-<name>" for a proxyFleet trigger of ScaledObject ns/name.
std::string fleet_metric_name_for(std::string_view route_namespace, std::string_view route_name);

}  // namespace lockstep::scaler
