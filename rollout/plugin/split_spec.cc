#include "rollout/plugin/split_spec.h"

#include <nlohmann/json.hpp>

namespace lockstep::plugin {

using nlohmann::ordered_json;

bool SplitSpec::is_default() const {
  if (canary_weight != 0 || !header_routes.empty()) return false;
  for (const WeightDestination& d : additional) {
    if (d.weight != 0) return false;
  }
  return true;
}

std::string split_to_json(const SplitSpec& s) {
  ordered_json j;
  j["stableService"] = s.stable_service;
  j["canaryService"] = s.canary_service;
  j["canaryWeight"] = s.canary_weight;
  j["maxWeight"] = s.max_weight;
  ordered_json additional = ordered_json::array();
  for (const WeightDestination& d : s.additional) {
    ordered_json a;
    a["serviceName"] = d.service_name;
    a["weight"] = d.weight;
    if (!d.pod_template_hash.empty()) a["podTemplateHash"] = d.pod_template_hash;
    additional.push_back(std::move(a));
  }
  j["additionalDestinations"] = std::move(additional);
  ordered_json routes = ordered_json::array();
  for (const HeaderRoute& r : s.header_routes) {
    ordered_json route;
    route["name"] = r.name;
    ordered_json matches = ordered_json::array();
    for (const HeaderMatch& m : r.matches) {
      ordered_json match;
      match["headerName"] = m.header_name;
      if (!m.value.exact.empty()) match["exact"] = m.value.exact;
      if (!m.value.prefix.empty()) match["prefix"] = m.value.prefix;
      if (!m.value.regex.empty()) match["regex"] = m.value.regex;
      matches.push_back(std::move(match));
    }
    route["match"] = std::move(matches);
    routes.push_back(std::move(route));
  }
  j["headerRoutes"] = std::move(routes);
  return j.dump();
}

namespace {

bool get_string(const nlohmann::json& obj, const char* key, std::string& out, bool required,
                std::string_view where, std::string& error) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (!required) return true;
    error = std::string(where) + key + ": missing";
    return false;
  }
  if (!it->is_string()) {
    error = std::string(where) + key + ": must be a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_int(const nlohmann::json& obj, const char* key, int64_t& out, std::string_view where,
             std::string& error) {
  const auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_number_integer()) {
    error = std::string(where) + key + ": must be an integer";
    return false;
  }
  out = it->get<int64_t>();
  return true;
}

}  // namespace

bool split_from_json(std::string_view text, SplitSpec& out, std::string& error) {
  out = SplitSpec{};
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    error = "not a JSON object";
    return false;
  }
  if (!get_string(j, "stableService", out.stable_service, true, "", error) ||
      !get_string(j, "canaryService", out.canary_service, true, "", error) ||
      !get_int(j, "canaryWeight", out.canary_weight, "", error) ||
      !get_int(j, "maxWeight", out.max_weight, "", error)) {
    return false;
  }
  if (const auto it = j.find("additionalDestinations"); it != j.end()) {
    if (!it->is_array()) {
      error = "additionalDestinations: must be an array";
      return false;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& a = (*it)[i];
      const std::string where = "additionalDestinations[" + std::to_string(i) + "].";
      if (!a.is_object()) {
        error = where + ": must be an object";
        return false;
      }
      WeightDestination d;
      if (!get_string(a, "serviceName", d.service_name, true, where, error) ||
          !get_int(a, "weight", d.weight, where, error) ||
          !get_string(a, "podTemplateHash", d.pod_template_hash, false, where, error)) {
        return false;
      }
      out.additional.push_back(std::move(d));
    }
  }
  if (const auto it = j.find("headerRoutes"); it != j.end()) {
    if (!it->is_array()) {
      error = "headerRoutes: must be an array";
      return false;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& r = (*it)[i];
      const std::string where = "headerRoutes[" + std::to_string(i) + "].";
      if (!r.is_object() || !r.contains("match") || !r["match"].is_array()) {
        error = where + "match: must be an array";
        return false;
      }
      HeaderRoute route;
      if (!get_string(r, "name", route.name, true, where, error)) return false;
      for (size_t k = 0; k < r["match"].size(); ++k) {
        const auto& m = r["match"][k];
        const std::string mwhere = where + "match[" + std::to_string(k) + "].";
        if (!m.is_object()) {
          error = mwhere + ": must be an object";
          return false;
        }
        HeaderMatch match;
        if (!get_string(m, "headerName", match.header_name, true, mwhere, error) ||
            !get_string(m, "exact", match.value.exact, false, mwhere, error) ||
            !get_string(m, "prefix", match.value.prefix, false, mwhere, error) ||
            !get_string(m, "regex", match.value.regex, false, mwhere, error)) {
          return false;
        }
        route.matches.push_back(std::move(match));
      }
      out.header_routes.push_back(std::move(route));
    }
  }
  return true;
}

}  // namespace lockstep::plugin
