#include "rollout/model/split_annotation.h"

#include <algorithm>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "rollout/kube/label_selector.h"

namespace lockstep::rollout {
namespace {

using nlohmann::json;

// Service names are DNS-1035 labels: 1..63 of [a-z0-9-], starting with a letter, ending
// alphanumeric.
bool is_service_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(s.front() >= 'a' && s.front() <= 'z')) return false;
  const char last = s.back();
  if (!((last >= 'a' && last <= 'z') || (last >= '0' && last <= '9'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// An HTTP header field name (RFC 9110 token).
bool is_header_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool is_header_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

std::string_view kind_key(SplitHeaderMatch::Kind k) {
  switch (k) {
    case SplitHeaderMatch::Kind::kExact:
      return "exact";
    case SplitHeaderMatch::Kind::kPrefix:
      return "prefix";
    case SplitHeaderMatch::Kind::kRegex:
      return "regex";
  }
  return "exact";
}

class Reader {
 public:
  std::string error;

  bool string_field(const json& obj, const char* key, std::string& out, bool required,
                    const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (required) return fail(where + key, "required");
      return true;
    }
    if (!it->is_string()) return fail(where + key, "must be a string");
    out = it->get<std::string>();
    return true;
  }

  bool int_field(const json& obj, const char* key, int64_t& out, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_number_integer()) return fail(where + key, "must be an integer");
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return fail(where + key, "out of range");
    }
    out = it->get<int64_t>();
    return true;
  }

  bool fail(const std::string& field, const std::string& why) {
    error = field + ": " + why;
    return false;
  }
};

}  // namespace

int64_t Split::stable_weight() const {
  int64_t w = max_weight - canary_weight;
  for (const auto& d : additional) w -= d.weight;
  return w;
}

const std::string& Split::header_route_service(const SplitHeaderRoute& r) const {
  return r.service.empty() ? canary_service : r.service;
}

std::string validate_split(const Split& s) {
  auto fail = [](const std::string& field, const std::string& why) { return field + ": " + why; };
  if (s.max_weight < 1 || s.max_weight > 1'000'000) {
    return fail("maxWeight", std::to_string(s.max_weight) + " is not in 1..1000000");
  }
  if (!s.rollout.empty() && !kube::is_dns1123_subdomain(s.rollout)) {
    return fail("rollout", "\"" + s.rollout + "\" is not a valid object name");
  }
  if (!is_service_name(s.stable_service)) {
    return fail("stableService", "\"" + s.stable_service + "\" is not a valid Service name");
  }
  if (!is_service_name(s.canary_service)) {
    return fail("canaryService", "\"" + s.canary_service + "\" is not a valid Service name");
  }
  if (s.canary_service == s.stable_service) {
    return fail("canaryService", "must differ from stableService");
  }
  if (s.canary_weight < 0 || s.canary_weight > s.max_weight) {
    return fail("canaryWeight", std::to_string(s.canary_weight) + " is not in 0..maxWeight (" +
                                    std::to_string(s.max_weight) + ")");
  }
  if (s.additional.size() > kMaxAdditionalDestinations) {
    return fail("additionalDestinations",
                "more than " + std::to_string(kMaxAdditionalDestinations) + " entries");
  }
  std::set<std::string> services{s.stable_service, s.canary_service};
  int64_t sum = s.canary_weight;
  for (size_t i = 0; i < s.additional.size(); ++i) {
    const auto& d = s.additional[i];
    const std::string where = "additionalDestinations[" + std::to_string(i) + "].";
    if (!is_service_name(d.service)) {
      return fail(where + "serviceName", "\"" + d.service + "\" is not a valid Service name");
    }
    if (!services.insert(d.service).second) {
      return fail(where + "serviceName", "\"" + d.service + "\" appears twice in the split");
    }
    if (d.weight < 0 || d.weight > s.max_weight) {
      return fail(where + "weight", std::to_string(d.weight) + " is not in 0..maxWeight");
    }
    sum += d.weight;
  }
  if (sum > s.max_weight) {
    return fail("additionalDestinations", "canaryWeight plus the additional weights (" +
                                              std::to_string(sum) + ") exceed maxWeight (" +
                                              std::to_string(s.max_weight) + ")");
  }
  if (s.header_routes.size() > kMaxHeaderRoutes) {
    return fail("headerRoutes", "more than " + std::to_string(kMaxHeaderRoutes) + " routes");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < s.header_routes.size(); ++i) {
    const auto& r = s.header_routes[i];
    const std::string where = "headerRoutes[" + std::to_string(i) + "].";
    if (r.name.empty() || r.name.size() > 253) return fail(where + "name", "must be 1..253 bytes");
    if (!names.insert(r.name).second) {
      return fail(where + "name", "\"" + r.name + "\" appears twice");
    }
    if (r.matches.empty() || r.matches.size() > 16) {
      return fail(where + "match", "must have 1..16 entries");
    }
    if (!r.service.empty() && !services.count(r.service)) {
      return fail(where + "service",
                  "\"" + r.service + "\" is not one of the split's services");
    }
    for (size_t k = 0; k < r.matches.size(); ++k) {
      const auto& m = r.matches[k];
      const std::string mw = where + "match[" + std::to_string(k) + "].";
      if (!is_header_name(m.header)) {
        return fail(mw + "headerName", "\"" + m.header + "\" is not an HTTP header name");
      }
      if (m.value.size() > 4096 || !is_header_value(m.value)) {
        return fail(mw + std::string(kind_key(m.kind)), "not a valid header value (<= 4096 bytes)");
      }
      if (m.kind == SplitHeaderMatch::Kind::kRegex) {
        if (m.value.size() > kMaxRegexBytes) {
          return fail(mw + "regex", "longer than " + std::to_string(kMaxRegexBytes) + " bytes");
        }
        try {
          std::regex re(m.value, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          return fail(mw + "regex", std::string("not an ECMAScript regular expression: ") + e.what());
        }
      }
    }
  }
  return {};
}

SplitParse parse_split_annotation(std::string_view text) {
  SplitParse out;
  if (text.size() > kMaxSplitAnnotationBytes) {
    out.error = "annotation larger than " + std::to_string(kMaxSplitAnnotationBytes) + " bytes";
    return out;
  }
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    out.error = "not valid JSON";
    return out;
  }
  if (!j.is_object()) {
    out.error = "must be a JSON object";
    return out;
  }
  Reader r;
  Split s;
  int64_t generation = 0;
  if (!r.int_field(j, "generation", generation, "") ||
      !r.string_field(j, "rollout", s.rollout, false, "") ||
      !r.string_field(j, "stableService", s.stable_service, true, "") ||
      !r.string_field(j, "canaryService", s.canary_service, true, "") ||
      !r.int_field(j, "canaryWeight", s.canary_weight, "") ||
      !r.int_field(j, "maxWeight", s.max_weight, "")) {
    out.error = r.error;
    return out;
  }
  if (generation < 0) {
    out.error = "generation: must not be negative";
    return out;
  }
  s.generation = static_cast<uint64_t>(generation);
  if (auto it = j.find("additionalDestinations"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      out.error = "additionalDestinations: must be an array";
      return out;
    }
    if (it->size() > kMaxAdditionalDestinations) {
      out.error = "additionalDestinations: more than " +
                  std::to_string(kMaxAdditionalDestinations) + " entries";
      return out;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& a = (*it)[i];
      const std::string where = "additionalDestinations[" + std::to_string(i) + "].";
      if (!a.is_object()) {
        out.error = where.substr(0, where.size() - 1) + ": must be an object";
        return out;
      }
      SplitDestination d;
      if (!r.string_field(a, "serviceName", d.service, true, where) ||
          !r.int_field(a, "weight", d.weight, where) ||
          !r.string_field(a, "podTemplateHash", d.pod_template_hash, false, where)) {
        out.error = r.error;
        return out;
      }
      s.additional.push_back(std::move(d));
    }
  }
  if (auto it = j.find("headerRoutes"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      out.error = "headerRoutes: must be an array";
      return out;
    }
    if (it->size() > kMaxHeaderRoutes) {
      out.error = "headerRoutes: more than " + std::to_string(kMaxHeaderRoutes) + " routes";
      return out;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& hr = (*it)[i];
      const std::string where = "headerRoutes[" + std::to_string(i) + "].";
      if (!hr.is_object()) {
        out.error = where.substr(0, where.size() - 1) + ": must be an object";
        return out;
      }
      SplitHeaderRoute route;
      if (!r.string_field(hr, "name", route.name, true, where) ||
          !r.string_field(hr, "service", route.service, false, where)) {
        out.error = r.error;
        return out;
      }
      auto m = hr.find("match");
      if (m == hr.end() || !m->is_array()) {
        out.error = where + "match: must be an array";
        return out;
      }
      if (m->size() > 16) {
        out.error = where + "match: must have 1..16 entries";
        return out;
      }
      for (size_t k = 0; k < m->size(); ++k) {
        const json& mj = (*m)[k];
        const std::string mw = where + "match[" + std::to_string(k) + "].";
        if (!mj.is_object()) {
          out.error = mw.substr(0, mw.size() - 1) + ": must be an object";
          return out;
        }
        SplitHeaderMatch match;
        if (!r.string_field(mj, "headerName", match.header, true, mw)) {
          out.error = r.error;
          return out;
        }
        int kinds = 0;
        for (auto kind : {SplitHeaderMatch::Kind::kExact, SplitHeaderMatch::Kind::kPrefix,
                          SplitHeaderMatch::Kind::kRegex}) {
          const std::string key(kind_key(kind));
          auto v = mj.find(key);
          if (v == mj.end() || v->is_null()) continue;
          if (!v->is_string()) {
            out.error = mw + key + ": must be a string";
            return out;
          }
          ++kinds;
          match.kind = kind;
          match.value = v->get<std::string>();
        }
        if (kinds != 1) {
          out.error = mw.substr(0, mw.size() - 1) + ": needs exactly one of exact, prefix, regex";
          return out;
        }
        route.matches.push_back(std::move(match));
      }
      s.header_routes.push_back(std::move(route));
    }
  }
  std::string invalid = validate_split(s);
  if (!invalid.empty()) {
    out.error = std::move(invalid);
    return out;
  }
  out.split = std::move(s);
  return out;
}

std::string serialize_split_annotation(const Split& s) {
  nlohmann::ordered_json j;
  j["generation"] = s.generation;
  if (!s.rollout.empty()) j["rollout"] = s.rollout;
  j["stableService"] = s.stable_service;
  j["canaryService"] = s.canary_service;
  j["canaryWeight"] = s.canary_weight;
  j["maxWeight"] = s.max_weight;
  if (!s.additional.empty()) {
    auto& arr = j["additionalDestinations"] = nlohmann::ordered_json::array();
    for (const auto& d : s.additional) {
      nlohmann::ordered_json a;
      a["serviceName"] = d.service;
      a["weight"] = d.weight;
      if (!d.pod_template_hash.empty()) a["podTemplateHash"] = d.pod_template_hash;
      arr.push_back(std::move(a));
    }
  }
  if (!s.header_routes.empty()) {
    auto& arr = j["headerRoutes"] = nlohmann::ordered_json::array();
    for (const auto& r : s.header_routes) {
      nlohmann::ordered_json route;
      route["name"] = r.name;
      auto& matches = route["match"] = nlohmann::ordered_json::array();
      for (const auto& m : r.matches) {
        nlohmann::ordered_json mj;
        mj["headerName"] = m.header;
        mj[std::string(kind_key(m.kind))] = m.value;
        matches.push_back(std::move(mj));
      }
      if (!r.service.empty()) route["service"] = r.service;
      arr.push_back(std::move(route));
    }
  }
  return j.dump();
}

}  // namespace lockstep::rollout
