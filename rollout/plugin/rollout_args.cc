#include "rollout/plugin/rollout_args.h"

#include <nlohmann/json.hpp>
#include <set>

#include "common/dns_name.h"

namespace lockstep::plugin {
namespace {

std::string join(std::string_view a, std::string_view b) {
  std::string out(a);
  out += '.';
  out += b;
  return out;
}

bool expect(const gob::Value& v, gob::Value::Type type, std::string_view path, std::string& error) {
  if (v.is_null() || v.type() == type) return true;
  error = std::string(path) + ": expected " + std::string(gob::value_type_name(type)) + ", got " +
          std::string(gob::value_type_name(v.type()));
  return false;
}

bool read_string_match(const gob::Value& v, std::string_view path, StringMatch& out,
                       std::string& error) {
  if (!expect(v, gob::Value::Type::kStruct, path, error)) return false;
  if (!read_string(v["Exact"], join(path, "Exact"), out.exact, error) ||
      !read_string(v["Prefix"], join(path, "Prefix"), out.prefix, error) ||
      !read_string(v["Regex"], join(path, "Regex"), out.regex, error)) {
    return false;
  }
  const int set = !out.exact.empty() + !out.prefix.empty() + !out.regex.empty();
  if (set != 1) {
    error = std::string(path) + ": exactly one of Exact, Prefix and Regex must be set (" +
            std::to_string(set) + " are)";
    return false;
  }
  return true;
}

}  // namespace

const gob::Selector& plugin_args_selector() {
  static const gob::Selector selector = [] {
    gob::Selector s;
    for (const char* path : {
             "Rollout.ObjectMeta.Name",
             "Rollout.ObjectMeta.Namespace",
             "Rollout.Spec.Strategy.Canary.CanaryService",
             "Rollout.Spec.Strategy.Canary.StableService",
             "Rollout.Spec.Strategy.Canary.PingPong",
             "Rollout.Spec.Strategy.Canary.TrafficRouting.Plugins",
             "Rollout.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes",
             "Rollout.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight",
             "Rollout.Status.Canary.StablePingPong",
             "Rollout.Status.StableRS",
             "Rollout.Status.CurrentPodHash",
             "DesiredWeight",
             "AdditionalDestinations",
             "CanaryHash",
             "StableHash",
             "SetHeaderRoute",
             "SetMirrorRoute",
         }) {
      s.add(path);
    }
    return s;
  }();
  return selector;
}

bool read_string(const gob::Value& v, std::string_view path, std::string& out, std::string& error) {
  if (v.type() == gob::Value::Type::kBytes) {
    error = std::string(path) + ": expected string, got []byte";
    return false;
  }
  if (!expect(v, gob::Value::Type::kString, path, error)) return false;
  out = std::string(v.as_string());
  return true;
}

bool read_int(const gob::Value& v, std::string_view path, int64_t& out, std::string& error) {
  if (!expect(v, gob::Value::Type::kInt, path, error)) return false;
  out = v.as_int();
  return true;
}

bool parse_plugin_config(std::string_view text, std::string_view rollout_name, PluginConfig& out,
                         std::string& error) {
  static const std::string kPath = "spec.strategy.canary.trafficRouting.plugins[\"lockstep/http\"]";
  out = PluginConfig{};
  out.scaled_object = std::string(rollout_name);
  // An absent entry and JSON null both mean "all defaults".
  if (text.empty()) return true;
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = kPath + ": not valid JSON";
    return false;
  }
  if (doc.is_null()) return true;
  if (!doc.is_object()) {
    error = kPath + ": must be a JSON object";
    return false;
  }
  for (const auto& [key, value] : doc.items()) {
    const std::string where = kPath + "." + key;
    if (key == "scaledObjectName" || key == "scalerService" || key == "scalerNamespace") {
      if (!value.is_string()) {
        error = where + ": must be a string";
        return false;
      }
      const std::string s = value.get<std::string>();
      const bool ok = key == "scaledObjectName" ? is_dns1123_subdomain(s) : is_dns1123_label(s);
      if (!ok) {
        error = where + ": \"" + s + "\" is not a valid Kubernetes name";
        return false;
      }
      (key == "scaledObjectName" ? out.scaled_object
       : key == "scalerService"  ? out.scaler_service
                                 : out.scaler_namespace) = s;
    } else if (key == "scalerAdminPort") {
      if (value.is_number_integer()) {
        const auto port = value.get<int64_t>();
        if (port < 1 || port > 65535) {
          error = where + ": " + std::to_string(port) + " is not a port number";
          return false;
        }
        out.scaler_admin_port = std::to_string(port);
      } else if (value.is_string() && is_dns1123_label(value.get<std::string>()) &&
                 value.get<std::string>().size() <= 15) {
        out.scaler_admin_port = value.get<std::string>();
      } else {
        error = where + ": must be a port number or a port name";
        return false;
      }
    } else {
      error = kPath + ": unknown key \"" + key +
              "\" (known: scaledObjectName, scalerService, scalerNamespace, scalerAdminPort)";
      return false;
    }
  }
  return true;
}

bool read_rollout(const gob::Value& ro, RolloutRef& out, std::string& error) {
  out = RolloutRef{};
  if (ro.type() != gob::Value::Type::kStruct) {
    error = "Rollout: missing from the arguments";
    return false;
  }
  const gob::Value& meta = ro["ObjectMeta"];
  if (!read_string(meta["Name"], "Rollout.ObjectMeta.Name", out.name, error) ||
      !read_string(meta["Namespace"], "Rollout.ObjectMeta.Namespace", out.ns, error)) {
    return false;
  }
  if (out.name.empty() || out.ns.empty()) {
    error = "Rollout.ObjectMeta: name and namespace are required";
    return false;
  }
  const gob::Value& canary = ro["Spec"]["Strategy"]["Canary"];
  if (canary.type() != gob::Value::Type::kStruct) {
    error = "spec.strategy.canary: the Rollout has no canary strategy (traffic routing needs one)";
    return false;
  }
  const gob::Value& ping_pong = canary["PingPong"];
  if (ping_pong.type() == gob::Value::Type::kStruct) {
    std::string ping;
    std::string pong;
    std::string stable_side;
    if (!read_string(ping_pong["PingService"], "spec.strategy.canary.pingPong.pingService", ping,
                     error) ||
        !read_string(ping_pong["PongService"], "spec.strategy.canary.pingPong.pongService", pong,
                     error) ||
        !read_string(ro["Status"]["Canary"]["StablePingPong"], "status.canary.stablePingPong",
                     stable_side, error)) {
      return false;
    }
    // As Argo: ping is stable unless the status says pong.
    const bool pong_stable = stable_side == "pong";
    out.stable_service = pong_stable ? pong : ping;
    out.canary_service = pong_stable ? ping : pong;
  } else if (!read_string(canary["StableService"], "spec.strategy.canary.stableService",
                          out.stable_service, error) ||
             !read_string(canary["CanaryService"], "spec.strategy.canary.canaryService",
                          out.canary_service, error)) {
    return false;
  }
  if (out.stable_service.empty() || out.canary_service.empty()) {
    error = "spec.strategy.canary: stableService and canaryService (or pingPong) are required";
    return false;
  }
  if (out.stable_service == out.canary_service) {
    error = "spec.strategy.canary: stableService and canaryService must differ";
    return false;
  }
  const gob::Value& routing = canary["TrafficRouting"];
  int64_t max_weight = 0;
  if (!read_int(routing["MaxTrafficWeight"], "spec.strategy.canary.trafficRouting.maxTrafficWeight",
                max_weight, error)) {
    return false;
  }
  if (max_weight < 0) {
    error = "spec.strategy.canary.trafficRouting.maxTrafficWeight: must be positive";
    return false;
  }
  out.max_weight = max_weight == 0 ? 100 : max_weight;
  const gob::Value& routes = routing["ManagedRoutes"];
  if (!expect(routes, gob::Value::Type::kSlice, "spec.strategy.canary.trafficRouting.managedRoutes",
              error)) {
    return false;
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    std::string name;
    if (!read_string(routes.at(i)["Name"],
                     "spec.strategy.canary.trafficRouting.managedRoutes[" + std::to_string(i) + "].name",
                     name, error)) {
      return false;
    }
    out.managed_routes.push_back(std::move(name));
  }
  const gob::Value& plugins = routing["Plugins"];
  if (!expect(plugins, gob::Value::Type::kMap, "spec.strategy.canary.trafficRouting.plugins",
              error)) {
    return false;
  }
  const gob::Value& config = plugins.map_get(kPluginName);
  if (!config.is_null() && config.type() != gob::Value::Type::kBytes &&
      config.type() != gob::Value::Type::kString) {
    error = "spec.strategy.canary.trafficRouting.plugins[\"lockstep/http\"]: expected raw JSON";
    return false;
  }
  if (!parse_plugin_config(config.as_string(), out.name, out.config, error)) return false;
  const gob::Value& status = ro["Status"];
  return read_string(status["StableRS"], "status.stableRS", out.stable_hash, error) &&
         read_string(status["CurrentPodHash"], "status.currentPodHash", out.canary_hash, error);
}

bool read_destinations(const gob::Value& list, std::string_view path,
                       std::vector<WeightDestination>& out, std::string& error) {
  out.clear();
  if (!expect(list, gob::Value::Type::kSlice, path, error)) return false;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = std::string(path) + "[" + std::to_string(i) + "]";
    const gob::Value& d = list.at(i);
    if (!expect(d, gob::Value::Type::kStruct, at, error)) return false;
    WeightDestination w;
    if (!read_string(d["ServiceName"], at + ".ServiceName", w.service_name, error) ||
        !read_string(d["PodTemplateHash"], at + ".PodTemplateHash", w.pod_template_hash, error) ||
        !read_int(d["Weight"], at + ".Weight", w.weight, error)) {
      return false;
    }
    out.push_back(std::move(w));
  }
  return true;
}

bool validate_weights(const RolloutRef& ro, int64_t desired,
                    const std::vector<WeightDestination>& additional, std::string& error) {
  if (desired < 0 || desired > ro.max_weight) {
    error = "desired weight " + std::to_string(desired) + " is outside 0.." +
            std::to_string(ro.max_weight);
    return false;
  }
  int64_t total = desired;
  std::set<std::string, std::less<>> seen = {ro.stable_service, ro.canary_service};
  for (size_t i = 0; i < additional.size(); ++i) {
    const WeightDestination& d = additional[i];
    const std::string at = "additionalDestinations[" + std::to_string(i) + "]";
    if (!is_dns1123_label(d.service_name)) {
      error = at + ".serviceName: \"" + d.service_name + "\" is not a valid Service name";
      return false;
    }
    if (!seen.insert(d.service_name).second) {
      error = at + ".serviceName: " + d.service_name +
              " is the stable or canary Service or listed twice";
      return false;
    }
    if (d.weight < 0 || d.weight > ro.max_weight) {
      error = at + ".weight: " + std::to_string(d.weight) + " is outside 0.." +
              std::to_string(ro.max_weight);
      return false;
    }
    total += d.weight;
  }
  if (total > ro.max_weight) {
    error = "the canary weight " + std::to_string(desired) +
            " and the additional destinations' weights add up to " + std::to_string(total) +
            ", more than the maximum traffic weight " + std::to_string(ro.max_weight);
    return false;
  }
  return true;
}

bool read_header_route(const gob::Value& route, HeaderRoute& out, std::string& error) {
  out = HeaderRoute{};
  if (!expect(route, gob::Value::Type::kStruct, "SetHeaderRoute", error) ||
      !read_string(route["Name"], "SetHeaderRoute.Name", out.name, error)) {
    return false;
  }
  if (out.name.empty()) {
    error = "SetHeaderRoute.Name: a route needs a name";
    return false;
  }
  const gob::Value& matches = route["Match"];
  if (!expect(matches, gob::Value::Type::kSlice, "SetHeaderRoute.Match", error)) return false;
  for (size_t i = 0; i < matches.size(); ++i) {
    const std::string at = "SetHeaderRoute.Match[" + std::to_string(i) + "]";
    HeaderMatch m;
    if (!expect(matches.at(i), gob::Value::Type::kStruct, at, error) ||
        !read_string(matches.at(i)["HeaderName"], at + ".HeaderName", m.header_name, error)) {
      return false;
    }
    if (m.header_name.empty()) {
      error = at + ".HeaderName: must not be empty";
      return false;
    }
    if (!read_string_match(matches.at(i)["HeaderValue"], at + ".HeaderValue", m.value, error)) {
      return false;
    }
    out.matches.push_back(std::move(m));
  }
  return true;
}

bool read_mirror_route(const gob::Value& route, MirrorRoute& out, std::string& error) {
  out = MirrorRoute{};
  if (!expect(route, gob::Value::Type::kStruct, "SetMirrorRoute", error) ||
      !read_string(route["Name"], "SetMirrorRoute.Name", out.name, error) ||
      !read_int(route["Percentage"], "SetMirrorRoute.Percentage", out.percentage, error) ||
      !expect(route["Match"], gob::Value::Type::kSlice, "SetMirrorRoute.Match", error)) {
    return false;
  }
  out.matches = route["Match"].size();
  return true;
}

}  // namespace lockstep::plugin
