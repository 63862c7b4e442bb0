#pragma once

// What the traffic-router methods read from the controller's arguments: the Rollout's identity,
// services, plugin configuration and routes, and the per-method values. Every reader validates
// kinds and ranges and reports the gob path (or JSON key) and the reason.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/gob_value.h"

namespace lockstep::plugin {

// The name under which Argo knows the plugin (ConfigMap entry and Rollout plugins key).
inline constexpr std::string_view kPluginName = "lockstep/http";

// The plugin's per-Rollout configuration: spec.strategy.canary.trafficRouting.plugins
// ["lockstep/http"], a JSON object.
struct PluginConfig {
  std::string scaled_object;     // default: the Rollout's name
  std::string scaler_service;    // "" = the plugin's default (--scaler-service)
  std::string scaler_namespace;  // "" = the plugin's default
  std::string scaler_admin_port;  // a port name or number; "" = the plugin's default
};

struct WeightDestination {
  std::string service_name;
  std::string pod_template_hash;
  int64_t weight = 0;
  bool operator==(const WeightDestination&) const = default;
};

struct StringMatch {
  std::string exact;
  std::string prefix;
  std::string regex;
  bool operator==(const StringMatch&) const = default;
};

struct HeaderMatch {
  std::string header_name;
  StringMatch value;
  bool operator==(const HeaderMatch&) const = default;
};

// Argo's SetHeaderRoute: requests whose headers all match go to the canary. No matches means
// "remove this route".
struct HeaderRoute {
  std::string name;
  std::vector<HeaderMatch> matches;
  bool operator==(const HeaderRoute&) const = default;
};

struct MirrorRoute {
  std::string name;
  size_t matches = 0;  // none means "remove this route"
  int64_t percentage = 0;
};

struct RolloutRef {
  std::string ns;
  std::string name;
  std::string stable_service;
  std::string canary_service;
  int64_t max_weight = 100;  // trafficRouting.maxTrafficWeight (absent or 0 on the wire: 100)
  std::vector<std::string> managed_routes;  // trafficRouting.managedRoutes[].name
  PluginConfig config;
  std::string stable_hash;  // status.stableRS
  std::string canary_hash;  // status.currentPodHash

  std::string id() const { return ns + "/" + name; }
};

// The fields every Plugin.* method needs from its arguments; everything else (the pod template,
// managedFields, status history) is parsed and skipped.
const gob::Selector& plugin_args_selector();

// Each reader returns false with `error` set; `error` never names the Rollout (callers add it).
bool read_rollout(const gob::Value& rollout, RolloutRef& out, std::string& error);
bool parse_plugin_config(std::string_view json, std::string_view rollout_name, PluginConfig& out,
                         std::string& error);
bool read_destinations(const gob::Value& list, std::string_view path,
                       std::vector<WeightDestination>& out, std::string& error);
bool read_header_route(const gob::Value& route, HeaderRoute& out, std::string& error);
bool read_mirror_route(const gob::Value& route, MirrorRoute& out, std::string& error);
// Checks a desired split: 0 <= weights <= max, every additional destination a distinct Service
// other than stable and canary, and the weights together at most max.
bool validate_weights(const RolloutRef& rollout, int64_t desired,
                    const std::vector<WeightDestination>& additional, std::string& error);

// Typed field access with the path in the error: a null value reads as the zero value.
bool read_string(const gob::Value& v, std::string_view path, std::string& out, std::string& error);
bool read_int(const gob::Value& v, std::string_view path, int64_t& out, std::string& error);

}  // namespace lockstep::plugin
