#include "rollout/plugin/traffic_router.h"

#include <algorithm>
#include <future>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <utility>

#include "rollout/kube/resource.h"
#include "rollout/plugin/admin_client.h"

namespace lockstep::plugin {
namespace {

using rollout::kSplitAnnotation;

std::string kube_failure(const kube::KubeResponse& r, const std::string& what) {
  if (r.status == 0) return what + ": the Kubernetes API is unreachable: " + r.error;
  std::string out = what + ": HTTP " + std::to_string(r.status);
  if (!r.reason.empty()) out += " " + r.reason;
  if (!r.error.empty()) out += ": " + r.error;
  if (r.status == 403) {
    out += " (the Argo Rollouts controller's ServiceAccount needs get and patch on "
           "scaledobjects.keda.sh; see docs/plugin.md)";
  }
  return out;
}

// Argo's destinations and header routes in the annotation's terms.
std::vector<rollout::SplitDestination> to_split(const std::vector<WeightDestination>& in) {
  std::vector<rollout::SplitDestination> out;
  for (const WeightDestination& d : in) out.push_back({d.service_name, d.weight, d.pod_template_hash});
  return out;
}

rollout::SplitHeaderRoute to_split(const HeaderRoute& in) {
  rollout::SplitHeaderRoute out;
  out.name = in.name;
  for (const HeaderMatch& m : in.matches) {
    rollout::SplitHeaderMatch match;
    match.header = m.header_name;
    if (!m.value.exact.empty()) {
      match.kind = rollout::SplitHeaderMatch::Kind::kExact;
      match.value = m.value.exact;
    } else if (!m.value.prefix.empty()) {
      match.kind = rollout::SplitHeaderMatch::Kind::kPrefix;
      match.value = m.value.prefix;
    } else {
      match.kind = rollout::SplitHeaderMatch::Kind::kRegex;
      match.value = m.value.regex;
    }
    out.matches.push_back(std::move(match));
  }
  return out;  // no service: header routes go to the canary (Argo's setHeaderRoute)
}

// Nothing routes differently from "everything to stable": the annotation can go.
bool is_default(const rollout::Split& s) {
  if (s.canary_weight != 0 || !s.header_routes.empty()) return false;
  return std::all_of(s.additional.begin(), s.additional.end(),
                     [](const rollout::SplitDestination& d) { return d.weight == 0; });
}

bool same_content(rollout::Split a, const rollout::Split& b) {
  a.generation = b.generation;
  return a == b;
}

}  // namespace

TrafficRouter::TrafficRouter(RouterOptions options, KubeConfigLoader loader, Logger log)
    : options_(std::move(options)), loader_(std::move(loader)), log_(std::move(log)) {}

kube::KubeClient* TrafficRouter::client(std::string& error) {
  std::lock_guard<std::mutex> lock(client_mu_);
  if (client_) return client_.get();
  // Built lazily and retried on every call: Argo calls InitPlugin only once per process, so a
  // transient failure there must not leave the plugin broken until the controller restarts.
  kube::KubeConfig config;
  if (!loader_(config, error)) {
    error = "cannot configure the Kubernetes client: " + error;
    return nullptr;
  }
  // The static binary makes no DNS lookups (no resolver, no NSS in the controller's image).
  if (!is_ip_literal(config.host)) {
    error = "cannot configure the Kubernetes client: the API server host \"" + config.host +
            "\" is not an IP address (KUBERNETES_SERVICE_HOST is one in every cluster; the "
            "plugin makes no DNS lookups)";
    return nullptr;
  }
  client_ = kube::KubeClient::create(std::move(config), options_.kube, error);
  if (!client_) {
    error = "cannot create the Kubernetes client: " + error;
    return nullptr;
  }
  log_.info("Kubernetes client ready", {{"server", client_->config().server_url()}});
  return client_.get();
}

std::string TrafficRouter::init() {
  std::string error;
  if (client(error) == nullptr) return error;
  return {};
}

std::mutex& TrafficRouter::object_lock(const std::string& key) {
  std::lock_guard<std::mutex> lock(known_mu_);
  auto& m = object_locks_[key];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

void TrafficRouter::remember(const std::string& key, const KnownSplit& known) {
  std::lock_guard<std::mutex> lock(known_mu_);
  known_[key] = known;
}

void TrafficRouter::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(known_mu_);
  known_.erase(key);
}

std::string TrafficRouter::update_split(const RolloutRef& ro,
                                        const std::function<void(rollout::Split&)>& mutate) {
  std::string error;
  kube::KubeClient* kc = client(error);
  if (kc == nullptr) return error;
  const std::string& so = ro.config.scaled_object;
  const std::string object = "ScaledObject " + ro.ns + "/" + so;
  const std::string key = ro.ns + "/" + so;
  const std::string target = kube::kScaledObjects.path(ro.ns, so);
  static const std::string kPointer = "/metadata/annotations/lockstep.dev~1split";
  std::lock_guard<std::mutex> serial(object_lock(key));

  // Start from what we last saw, if anything: a change then costs one conditional write.
  std::optional<KnownSplit> known;
  {
    std::lock_guard<std::mutex> lock(known_mu_);
    if (const auto it = known_.find(key); it != known_.end()) known = it->second;
  }
  bool fresh = false;  // `known` comes from a GET in this call
  std::string resource_version;
  for (int attempt = 0; attempt <= options_.conflict_retries + 1; ++attempt) {
    if (!known) {
      const kube::KubeResponse got = kc->get(kube::kScaledObjects, ro.ns, so);
      if (got.status == 404) {
        forget(key);
        rollout::Split wanted;
        wanted.stable_service = ro.stable_service;
        wanted.canary_service = ro.canary_service;
        wanted.max_weight = ro.max_weight;
        mutate(wanted);
        if (is_default(wanted)) {
          // Nothing to remove from an object that does not exist.
          log_.warn("ScaledObject not found; nothing to reset",
                    {{"rollout", ro.id()}, {"scaledObject", so}});
          return {};
        }
        return object + " not found (the plugin config's scaledObjectName defaults to the Rollout's name)";
      }
      if (!got.ok()) {
        forget(key);
        return kube_failure(got, "reading " + object);
      }
      const nlohmann::json meta =
          got.body.is_object() ? got.body.value("metadata", nlohmann::json::object())
                               : nlohmann::json::object();
      resource_version = meta.value("resourceVersion", std::string());
      KnownSplit k;
      if (meta.contains("annotations") && meta["annotations"].is_object() &&
          meta["annotations"].contains(kSplitAnnotation) &&
          meta["annotations"][std::string(kSplitAnnotation)].is_string()) {
        k.present = true;
        k.text = meta["annotations"][std::string(kSplitAnnotation)].get<std::string>();
        rollout::SplitParse parsed = rollout::parse_split_annotation(k.text);
        k.parsed = parsed.split.has_value();
        if (k.parsed) {
          k.split = std::move(*parsed.split);
        } else {
          log_.warn("replacing an invalid split annotation",
                    {{"rollout", ro.id()}, {"scaledObject", so}, {"error", parsed.error}});
        }
      }
      known = k;
      fresh = true;
    }
    rollout::Split next = known->parsed ? known->split : rollout::Split{};
    // The Services and maximum come from the Rollout every time (ping-pong swaps them).
    next.rollout = ro.name;
    next.stable_service = ro.stable_service;
    next.canary_service = ro.canary_service;
    next.max_weight = ro.max_weight;
    mutate(next);
    const bool remove = is_default(next);
    const bool unchanged =
        (remove && !known->present) || (known->parsed && !remove && same_content(next, known->split));
    if (unchanged) {
      if (fresh) {
        remember(key, *known);
        return {};  // already so: no write
      }
      // Only our memory says so: confirm with the API server (someone may have edited it).
      known.reset();
      continue;
    }
    if (!remove) {
      next.generation = (known->parsed ? known->split.generation : 0) + 1;
      // Never write what the scalers would reject (they would keep the last good split).
      const std::string invalid = rollout::validate_split(next);
      if (!invalid.empty()) return "the split would be invalid: " + invalid;
    }
    const std::string text = remove ? std::string() : rollout::serialize_split_annotation(next);
    kube::KubeResponse written;
    if (known->present) {
      // A JSON patch whose test op is the precondition: it fails (422/409) if the annotation is
      // not what we based the change on, and ignores unrelated writes (KEDA's status updates).
      nlohmann::json ops = nlohmann::json::array();
      ops.push_back({{"op", "test"}, {"path", kPointer}, {"value", known->text}});
      if (remove) {
        ops.push_back({{"op", "remove"}, {"path", kPointer}});
      } else {
        ops.push_back({{"op", "replace"}, {"path", kPointer}, {"value", text}});
      }
      written = kc->request(kube::KubeClient::Verb::kPatch, target, ops.dump(),
                            "application/json-patch+json");
    } else {
      if (!fresh) {  // creating the annotation needs a current resourceVersion
        known.reset();
        continue;
      }
      nlohmann::json annotations = nlohmann::json::object();
      annotations[std::string(kSplitAnnotation)] = text;
      nlohmann::json patch = {{"metadata", {{"annotations", annotations}}}};
      // The resourceVersion makes the merge patch conditional: a concurrent writer causes 409,
      // not a lost update.
      if (!resource_version.empty()) patch["metadata"]["resourceVersion"] = resource_version;
      written = kc->merge_patch(kube::kScaledObjects, ro.ns, so, patch);
    }
    if (written.status == 409 || written.status == 422 || written.status == 404) {
      log_.debug("the split changed under us, re-reading",
                 {{"rollout", ro.id()}, {"status", std::to_string(written.status)}});
      known.reset();
      continue;
    }
    if (!written.ok()) {
      forget(key);
      return kube_failure(written, "patching " + object);
    }
    KnownSplit now;
    now.present = !remove;
    now.text = text;
    now.parsed = !remove;
    now.split = next;
    remember(key, now);
    log_.info(remove ? "split annotation removed" : "split annotation written",
              {{"rollout", ro.id()}, {"scaledObject", so}, {"split", remove ? std::string("-") : text}});
    return {};
  }
  forget(key);
  return "patching " + object + ": still conflicting after " +
         std::to_string(options_.conflict_retries + 1) + " attempts";
}

std::string TrafficRouter::set_weight(const RolloutRef& ro, int64_t desired,
                                      const std::vector<WeightDestination>& additional) {
  std::string error;
  if (!validate_weights(ro, desired, additional, error)) return error;
  return update_split(ro, [&](rollout::Split& s) {
    s.canary_weight = desired;
    s.additional = to_split(additional);
  });
}

std::string TrafficRouter::set_header_route(const RolloutRef& ro, const HeaderRoute& route) {
  if (!ro.managed_routes.empty() &&
      std::find(ro.managed_routes.begin(), ro.managed_routes.end(), route.name) ==
          ro.managed_routes.end()) {
    return "header route \"" + route.name +
           "\" is not listed in spec.strategy.canary.trafficRouting.managedRoutes";
  }
  return update_split(ro, [&](rollout::Split& s) {
    auto& routes = s.header_routes;
    routes.erase(std::remove_if(routes.begin(), routes.end(),
                                [&](const rollout::SplitHeaderRoute& r) { return r.name == route.name; }),
                 routes.end());
    // A route without matches is Argo's way of removing it.
    if (!route.matches.empty()) routes.push_back(to_split(route));
  });
}

std::string TrafficRouter::set_mirror_route(const RolloutRef& ro, const MirrorRoute& route) {
  (void)ro;
  if (route.matches == 0) return {};  // removing a mirror route: none was ever created
  return "mirror route \"" + route.name +
         "\": the lockstep proxy does not mirror traffic, so setMirrorRoute steps cannot be "
         "applied (remove the step, or use a setHeaderRoute step)";
}

std::string TrafficRouter::remove_managed_routes(const RolloutRef& ro) {
  return update_split(ro, [](rollout::Split& s) { s.header_routes.clear(); });
}

std::string TrafficRouter::update_hash(const RolloutRef& ro, const std::string& canary_hash,
                                       const std::string& stable_hash,
                                       const std::vector<WeightDestination>& additional) {
  {
    std::lock_guard<std::mutex> lock(hashes_mu_);
    hashes_[ro.id()] = Hashes{canary_hash, stable_hash, additional};
  }
  log_.debug("hashes recorded",
             {{"rollout", ro.id()}, {"canaryHash", canary_hash}, {"stableHash", stable_hash}});
  return {};
}

bool TrafficRouter::hashes(const std::string& rollout_id, Hashes& out) const {
  std::lock_guard<std::mutex> lock(hashes_mu_);
  const auto it = hashes_.find(rollout_id);
  if (it == hashes_.end()) return false;
  out = it->second;
  return true;
}

Verification TrafficRouter::verify_weight(const RolloutRef& ro, int64_t desired,
                                          const std::vector<WeightDestination>& additional) {
  std::string error;
  if (!validate_weights(ro, desired, additional, error)) {
    log_.warn("VerifyWeight: invalid split", {{"rollout", ro.id()}, {"error", error}});
    return Verification::kNotVerified;
  }
  kube::KubeClient* kc = client(error);
  if (kc == nullptr) {
    log_.warn("VerifyWeight: not verified", {{"rollout", ro.id()}, {"reason", error}});
    return Verification::kNotVerified;
  }
  const std::string service =
      ro.config.scaler_service.empty() ? options_.scaler_service : ro.config.scaler_service;
  const std::string ns =
      ro.config.scaler_namespace.empty() ? options_.scaler_namespace : ro.config.scaler_namespace;
  const std::string port_spec =
      ro.config.scaler_admin_port.empty() ? options_.scaler_admin_port : ro.config.scaler_admin_port;
  kube::ListOptions list_options;
  list_options.label_selector = "kubernetes.io/service-name=" + service;
  const kube::ListResult slices = kc->list(kube::kEndpointSlices, ns, list_options);
  if (!slices.ok()) {
    log_.warn("VerifyWeight: not verified",
              {{"rollout", ro.id()},
               {"reason", kube_failure(slices.response, "listing the EndpointSlices of Service " +
                                                            ns + "/" + service)}});
    return Verification::kNotVerified;
  }
  const bool numeric_port =
      !port_spec.empty() && std::all_of(port_spec.begin(), port_spec.end(),
                                        [](unsigned char c) { return c >= '0' && c <= '9'; });
  std::vector<std::pair<std::string, uint16_t>> replicas;
  for (const nlohmann::json& slice : slices.items) {
    const std::string type = slice.value("addressType", std::string());
    if (type != "IPv4" && type != "IPv6") continue;  // FQDN endpoints would need DNS
    uint16_t port = numeric_port ? static_cast<uint16_t>(std::stoi(port_spec)) : 0;
    if (!numeric_port && slice.contains("ports") && slice["ports"].is_array()) {
      for (const auto& p : slice["ports"]) {
        if (p.is_object() && p.value("name", std::string()) == port_spec &&
            p.contains("port") && p["port"].is_number_integer()) {
          port = static_cast<uint16_t>(p["port"].get<int>());
        }
      }
    }
    if (port == 0 || !slice.contains("endpoints") || !slice["endpoints"].is_array()) continue;
    for (const auto& ep : slice["endpoints"]) {
      if (!ep.is_object()) continue;
      // A missing `ready` condition means ready (discovery/v1).
      const auto conditions = ep.value("conditions", nlohmann::json::object());
      if (conditions.is_object() && conditions.contains("ready") &&
          conditions["ready"].is_boolean() && !conditions["ready"].get<bool>()) {
        continue;
      }
      if (ep.contains("addresses") && ep["addresses"].is_array() && !ep["addresses"].empty() &&
          ep["addresses"][0].is_string()) {
        replicas.emplace_back(ep["addresses"][0].get<std::string>(), port);
      }
    }
  }
  if (replicas.empty()) {
    log_.warn("VerifyWeight: not verified",
              {{"rollout", ro.id()},
               {"reason", "no ready endpoint with port \"" + port_spec + "\" in the EndpointSlices of Service " +
                              ns + "/" + service}});
    return Verification::kNotVerified;
  }
  // Ask every replica at once; each answer is bounded by verify_timeout.
  std::vector<std::future<std::string>> answers;
  answers.reserve(replicas.size());
  for (const auto& [ip, port] : replicas) {
    answers.push_back(std::async(std::launch::async, [this, &ro, ip = ip, port = port, desired, &additional] {
      return verify_replica(ro, ip, port, desired, additional);
    }));
  }
  bool all = true;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string problem = answers[i].get();
    if (!problem.empty()) {
      all = false;
      log_.info("VerifyWeight: not verified",
                {{"rollout", ro.id()},
                 {"scaler", replicas[i].first + ":" + std::to_string(replicas[i].second)},
                 {"reason", problem}});
    }
  }
  if (all) {
    log_.debug("VerifyWeight: verified", {{"rollout", ro.id()},
                                          {"weight", std::to_string(desired)},
                                          {"scalers", std::to_string(replicas.size())}});
  }
  return all ? Verification::kVerified : Verification::kNotVerified;
}

std::string TrafficRouter::verify_replica(const RolloutRef& ro, const std::string& ip,
                                          uint16_t port, int64_t desired,
                                          const std::vector<WeightDestination>& additional) {
  // The scaler's split status (docs/split-annotation.md §2).
  const std::string target = "/v1/routes/" + ro.ns + "/" + ro.config.scaled_object;
  const AdminResponse r = admin_get(ip, port, target, options_.verify_timeout);
  if (r.status == 0) return "unreachable: " + r.error;
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  const std::string reason = j.is_object() && j.contains("reason") && j["reason"].is_string()
                                 ? ": " + j["reason"].get<std::string>()
                                 : std::string();
  if (r.status == 503) return "the scaler has not synced yet" + reason;
  if (r.status == 404) return "the scaler does not route ScaledObject " + ro.ns + "/" + ro.config.scaled_object + reason;
  if (r.status != 200) return "GET " + target + " answered HTTP " + std::to_string(r.status) + reason;
  if (!j.is_object()) return "GET " + target + ": the answer is not a JSON object";

  // What this plugin last wrote or read for the ScaledObject (refreshed by every SetWeight, which
  // Argo calls just before VerifyWeight).
  std::optional<KnownSplit> known;
  {
    std::lock_guard<std::mutex> lock(known_mu_);
    const auto it = known_.find(ro.ns + "/" + ro.config.scaled_object);
    if (it != known_.end()) known = it->second;
  }

  // What the scaler has in effect, as weights per Service.
  std::map<std::string, int64_t> want;
  want[ro.canary_service] = desired;
  for (const WeightDestination& d : additional) want[d.service_name] += d.weight;
  std::map<std::string, int64_t> seen;
  const nlohmann::json desired_json = j.value("desired", nlohmann::json());
  if (desired_json.is_object()) {
    const rollout::SplitParse parsed = rollout::parse_split_annotation(desired_json.dump());
    if (!parsed.split) return "GET " + target + ": unreadable desired split: " + parsed.error;
    if (parsed.split->stable_service != ro.stable_service ||
        parsed.split->canary_service != ro.canary_service) {
      return "the scaler routes " + parsed.split->stable_service + "/" + parsed.split->canary_service +
             ", not " + ro.stable_service + "/" + ro.canary_service + " yet";
    }
    // Equal weights from an older generation are not the split we wrote (docs/split-annotation.md
    // §2: compare at least the generation).
    if (known && known->parsed && parsed.split->generation < known->split.generation) {
      return "the scaler routes generation " + std::to_string(parsed.split->generation) +
             " of the split, not " + std::to_string(known->split.generation) + " yet";
    }
    if (known && !known->present) {
      return "the scaler still routes the removed split (generation " +
             std::to_string(parsed.split->generation) + ")";
    }
    seen[ro.canary_service] = parsed.split->canary_weight;
    for (const rollout::SplitDestination& d : parsed.split->additional) seen[d.service] += d.weight;
  } else {
    // No annotation in effect: everything goes to stable. Check the canary backend too, so a
    // Rollout-status fallback with weight is not taken for "no split".
    seen[ro.canary_service] = 0;
    if (j.contains("backends") && j["backends"].is_array()) {
      for (const auto& b : j["backends"]) {
        if (b.is_object() && b.value("role", std::string()) == "canary" &&
            b.contains("weight") && b["weight"].is_number_integer()) {
          seen[ro.canary_service] = b["weight"].get<int64_t>();
        }
      }
    }
  }
  for (const auto& [service, weight] : want) {
    const auto it = seen.find(service);
    const int64_t have = it == seen.end() ? 0 : it->second;
    if (have != weight) {
      return "the scaler sends weight " + std::to_string(have) + " to " + service + ", not " +
             std::to_string(weight) + " yet";
    }
  }
  for (const auto& [service, weight] : seen) {
    if (weight != 0 && want.count(service) == 0) {
      return "the scaler still sends weight " + std::to_string(weight) + " to " + service;
    }
  }
  if (!j.value("applied", false)) {
    const nlohmann::json proxies = j.value("proxies", nlohmann::json::object());
    return "not every proxy applies the split yet (" +
           std::to_string(proxies.is_object() ? proxies.value("applied", 0) : 0) + " of " +
           std::to_string(proxies.is_object() ? proxies.value("connected", 0) : 0) + " connected)";
  }
  return {};
}

}  // namespace lockstep::plugin
