#include "rollout/model/objects.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "rollout/kube/label_selector.h"

namespace lockstep::rollout {
namespace {

using nlohmann::json;

// Reads typed fields and remembers the first error with its path.
class Reader {
 public:
  std::optional<std::pair<std::string, std::string>> error;  // field, reason

  bool ok() const { return !error.has_value(); }

  bool fail(const std::string& field, std::string reason) {
    if (!error) error.emplace(field, std::move(reason));
    return false;
  }

  // The member `key` of `parent` if present and not null, else nullptr.
  static const json* member(const json& parent, std::string_view key) {
    if (!parent.is_object()) return nullptr;
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* object(const json& parent, std::string_view key, const std::string& path,
                     bool required = false) {
    const json* v = member(parent, key);
    if (!v) {
      if (required) fail(path, "required");
      return nullptr;
    }
    if (!v->is_object()) {
      fail(path, "must be an object");
      return nullptr;
    }
    return v;
  }

  const json* array(const json& parent, std::string_view key, const std::string& path,
                    bool required = false) {
    const json* v = member(parent, key);
    if (!v) {
      if (required) fail(path, "required");
      return nullptr;
    }
    if (!v->is_array()) {
      fail(path, "must be a list");
      return nullptr;
    }
    return v;
  }

  bool str(const json& parent, std::string_view key, std::string& out, const std::string& path,
           bool required = false) {
    const json* v = member(parent, key);
    if (!v) return required ? fail(path, "required") : true;
    if (!v->is_string()) return fail(path, "must be a string");
    out = v->get<std::string>();
    if (required && out.empty()) return fail(path, "must not be empty");
    return true;
  }

  bool boolean(const json& parent, std::string_view key, bool& out, const std::string& path) {
    const json* v = member(parent, key);
    if (!v) return true;
    if (!v->is_boolean()) return fail(path, "must be true or false");
    out = v->get<bool>();
    return true;
  }

  bool opt_bool(const json& parent, std::string_view key, std::optional<bool>& out,
                const std::string& path) {
    const json* v = member(parent, key);
    if (!v) return true;
    if (!v->is_boolean()) return fail(path, "must be true or false");
    out = v->get<bool>();
    return true;
  }

  bool int32(const json& parent, std::string_view key, std::optional<int32_t>& out,
             const std::string& path, bool required = false) {
    const json* v = member(parent, key);
    if (!v) return required ? fail(path, "required") : true;
    if (!v->is_number_integer()) return fail(path, "must be an integer");
    if (v->is_number_unsigned()) {
      if (v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        return fail(path, "out of range for a 32-bit integer");
      }
    } else {
      const int64_t n = v->get<int64_t>();
      if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max()) {
        return fail(path, "out of range for a 32-bit integer");
      }
    }
    out = static_cast<int32_t>(v->get<int64_t>());
    return true;
  }

  bool string_map(const json& parent, std::string_view key, std::map<std::string, std::string>& out,
                  const std::string& path) {
    const json* v = member(parent, key);
    if (!v) return true;
    if (!v->is_object()) return fail(path, "must be a map of strings");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_string()) {
        return fail(path + "." + it.key(),
                    "must be a string (quote numbers and booleans in YAML)");
      }
      out[it.key()] = it.value().get<std::string>();
    }
    return true;
  }
};

std::string index_path(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

bool read_meta(Reader& r, const json& obj, ObjectMeta& meta, std::string_view default_ns) {
  const json* m = r.object(obj, "metadata", "metadata", true);
  if (!m) return false;
  if (!r.str(*m, "name", meta.name, "metadata.name", true)) return false;
  std::string why;
  if (!kube::is_dns1123_subdomain(meta.name, &why)) {
    return r.fail("metadata.name", "\"" + meta.name + "\" " + why);
  }
  if (!r.str(*m, "namespace", meta.ns, "metadata.namespace")) return false;
  if (meta.ns.empty()) meta.ns = std::string(default_ns);
  if (meta.ns.empty()) return r.fail("metadata.namespace", "required");
  if (!kube::is_dns1123_label(meta.ns, &why)) {
    return r.fail("metadata.namespace", "\"" + meta.ns + "\" " + why);
  }
  r.str(*m, "uid", meta.uid, "metadata.uid");
  r.str(*m, "resourceVersion", meta.resource_version, "metadata.resourceVersion");
  if (const json* g = Reader::member(*m, "generation"); g && g->is_number_integer()) {
    meta.generation = g->get<int64_t>();
  }
  meta.deleting = Reader::member(*m, "deletionTimestamp") != nullptr;
  r.string_map(*m, "labels", meta.labels, "metadata.labels");
  r.string_map(*m, "annotations", meta.annotations, "metadata.annotations");
  return r.ok();
}

bool read_weight_destination(Reader& r, const json& parent, std::string_view key,
                             WeightDestination& out, const std::string& path) {
  const json* d = r.object(parent, key, path);
  if (!d) return r.ok();
  std::optional<int32_t> w;
  r.int32(*d, "weight", w, path + ".weight");
  out.weight = w.value_or(0);
  r.str(*d, "serviceName", out.service_name, path + ".serviceName");
  r.str(*d, "podTemplateHash", out.pod_template_hash, path + ".podTemplateHash");
  return r.ok();
}

void parse_scaled_object(Reader& r, const json& obj, ScaledObject& so) {
  const json* spec = r.object(obj, "spec", "spec", true);
  if (!spec) return;
  const json* ref = r.object(*spec, "scaleTargetRef", "spec.scaleTargetRef", true);
  if (!ref) return;
  r.str(*ref, "name", so.target.name, "spec.scaleTargetRef.name", true);
  r.str(*ref, "kind", so.target.kind, "spec.scaleTargetRef.kind");
  r.str(*ref, "apiVersion", so.target.api_version, "spec.scaleTargetRef.apiVersion");
  if (so.target.kind.empty()) so.target.kind = "Deployment";
  r.int32(*spec, "minReplicaCount", so.min_replicas, "spec.minReplicaCount");
  r.int32(*spec, "maxReplicaCount", so.max_replicas, "spec.maxReplicaCount");
  const json* triggers = r.array(*spec, "triggers", "spec.triggers");
  if (!triggers) return;
  for (size_t i = 0; i < triggers->size() && r.ok(); ++i) {
    const std::string path = index_path("spec.triggers", i);
    const json& t = (*triggers)[i];
    if (!t.is_object()) {
      r.fail(path, "must be an object");
      return;
    }
    ScaledObject::Trigger trigger;
    r.str(t, "type", trigger.type, path + ".type", true);
    r.str(t, "name", trigger.name, path + ".name");
    r.str(t, "metricType", trigger.metric_type, path + ".metricType");
    r.string_map(t, "metadata", trigger.metadata, path + ".metadata");
    so.triggers.push_back(std::move(trigger));
  }
}

void parse_rollout(Reader& r, const json& obj, Rollout& ro) {
  const json* spec = r.object(obj, "spec", "spec", true);
  if (!spec) return;
  r.int32(*spec, "replicas", ro.replicas, "spec.replicas");
  if (ro.replicas && *ro.replicas < 0) {
    r.fail("spec.replicas", "must not be negative");
    return;
  }
  const json* strategy = r.object(*spec, "strategy", "spec.strategy");
  if (strategy) {
    if (const json* c = r.object(*strategy, "canary", "spec.strategy.canary")) {
      Rollout::Canary canary;
      const std::string p = "spec.strategy.canary.";
      r.str(*c, "stableService", canary.stable_service, p + "stableService");
      r.str(*c, "canaryService", canary.canary_service, p + "canaryService");
      r.boolean(*c, "dynamicStableScale", canary.dynamic_stable_scale, p + "dynamicStableScale");
      r.int32(*c, "minPodsPerReplicaSet", canary.min_pods_per_replica_set,
              p + "minPodsPerReplicaSet");
      r.int32(*c, "abortScaleDownDelaySeconds", canary.abort_scale_down_delay_seconds,
              p + "abortScaleDownDelaySeconds");
      if (const json* tr = r.object(*c, "trafficRouting", p + "trafficRouting")) {
        canary.traffic_routing = true;
        std::optional<int32_t> max;
        r.int32(*tr, "maxTrafficWeight", max, p + "trafficRouting.maxTrafficWeight");
        if (max) {
          if (*max < 1) {
            r.fail(p + "trafficRouting.maxTrafficWeight", "must be at least 1");
          } else {
            canary.max_traffic_weight = *max;
          }
        }
        if (const json* plugins = r.object(*tr, "plugins", p + "trafficRouting.plugins")) {
          for (auto it = plugins->begin(); it != plugins->end(); ++it) {
            canary.traffic_router_plugins.push_back(it.key());
          }
        }
      }
      if (const json* steps = r.array(*c, "steps", p + "steps")) {
        for (size_t i = 0; i < steps->size() && r.ok(); ++i) {
          const std::string sp = index_path(p + "steps", i);
          const json& s = (*steps)[i];
          if (!s.is_object()) {
            r.fail(sp, "must be an object");
            break;
          }
          Rollout::CanaryStep step;
          r.int32(s, "setWeight", step.set_weight, sp + ".setWeight");
          if (const json* cs = r.object(s, "setCanaryScale", sp + ".setCanaryScale")) {
            Rollout::CanaryStep::CanaryScale scale;
            r.int32(*cs, "replicas", scale.replicas, sp + ".setCanaryScale.replicas");
            r.int32(*cs, "weight", scale.weight, sp + ".setCanaryScale.weight");
            r.boolean(*cs, "matchTrafficWeight", scale.match_traffic_weight,
                      sp + ".setCanaryScale.matchTrafficWeight");
            step.set_canary_scale = scale;
          }
          canary.steps.push_back(step);
        }
      }
      ro.canary = std::move(canary);
    }
    if (const json* bg = r.object(*strategy, "blueGreen", "spec.strategy.blueGreen")) {
      Rollout::BlueGreen blue_green;
      r.str(*bg, "activeService", blue_green.active_service,
            "spec.strategy.blueGreen.activeService");
      r.str(*bg, "previewService", blue_green.preview_service,
            "spec.strategy.blueGreen.previewService");
      ro.blue_green = std::move(blue_green);
    }
  }
  const json* status = r.object(obj, "status", "status");
  if (!status) return;
  auto& st = ro.status;
  r.int32(*status, "HPAReplicas", st.hpa_replicas, "status.HPAReplicas");
  r.boolean(*status, "abort", st.abort, "status.abort");
  r.boolean(*status, "promoteFull", st.promote_full, "status.promoteFull");
  r.str(*status, "stableRS", st.stable_rs, "status.stableRS");
  r.str(*status, "currentPodHash", st.current_pod_hash, "status.currentPodHash");
  r.int32(*status, "currentStepIndex", st.current_step_index, "status.currentStepIndex");
  const json* canary = r.object(*status, "canary", "status.canary");
  if (!canary) return;
  const json* weights = r.object(*canary, "weights", "status.canary.weights");
  if (!weights) return;
  Rollout::Status::Weights w;
  read_weight_destination(r, *weights, "canary", w.canary, "status.canary.weights.canary");
  read_weight_destination(r, *weights, "stable", w.stable, "status.canary.weights.stable");
  r.opt_bool(*weights, "verified", w.verified, "status.canary.weights.verified");
  if (const json* add = r.array(*weights, "additional", "status.canary.weights.additional")) {
    for (size_t i = 0; i < add->size() && r.ok(); ++i) {
      WeightDestination d;
      const std::string ap = index_path("status.canary.weights.additional", i);
      const json& a = (*add)[i];
      if (!a.is_object()) {
        r.fail(ap, "must be an object");
        break;
      }
      std::optional<int32_t> weight;
      r.int32(a, "weight", weight, ap + ".weight");
      d.weight = weight.value_or(0);
      r.str(a, "serviceName", d.service_name, ap + ".serviceName");
      r.str(a, "podTemplateHash", d.pod_template_hash, ap + ".podTemplateHash");
      w.additional.push_back(std::move(d));
    }
  }
  st.weights = std::move(w);
}

void parse_service(Reader& r, const json& obj, Service& svc) {
  const json* spec = r.object(obj, "spec", "spec", true);
  if (!spec) return;
  r.str(*spec, "type", svc.type, "spec.type");
  r.string_map(*spec, "selector", svc.selector, "spec.selector");
  const json* ports = r.array(*spec, "ports", "spec.ports");
  if (!ports) return;
  for (size_t i = 0; i < ports->size() && r.ok(); ++i) {
    const std::string p = index_path("spec.ports", i);
    const json& pj = (*ports)[i];
    if (!pj.is_object()) {
      r.fail(p, "must be an object");
      return;
    }
    Service::Port port;
    std::optional<int32_t> number;
    r.str(pj, "name", port.name, p + ".name");
    r.int32(pj, "port", number, p + ".port", true);
    if (number && (*number < 1 || *number > 65535)) {
      r.fail(p + ".port", std::to_string(*number) + " is not in 1..65535");
      return;
    }
    port.port = number.value_or(0);
    r.str(pj, "protocol", port.protocol, p + ".protocol");
    if (port.protocol.empty()) port.protocol = "TCP";
    if (const json* tp = Reader::member(pj, "targetPort")) {
      if (tp->is_number_integer()) {
        r.int32(pj, "targetPort", port.target_port_number, p + ".targetPort");
      } else if (tp->is_string()) {
        port.target_port_name = tp->get<std::string>();
      } else {
        r.fail(p + ".targetPort", "must be a port number or name");
        return;
      }
    }
    svc.ports.push_back(std::move(port));
  }
}

void parse_endpoint_slice(Reader& r, const json& obj, EndpointSlice& es) {
  auto it = es.meta.labels.find(std::string(kServiceNameLabel));
  if (it != es.meta.labels.end()) es.service_name = it->second;
  r.str(obj, "addressType", es.address_type, "addressType", true);
  if (const json* ports = r.array(obj, "ports", "ports")) {
    for (size_t i = 0; i < ports->size() && r.ok(); ++i) {
      const std::string p = index_path("ports", i);
      const json& pj = (*ports)[i];
      if (!pj.is_object()) {
        r.fail(p, "must be an object");
        return;
      }
      EndpointSlice::Port port;
      r.str(pj, "name", port.name, p + ".name");
      r.int32(pj, "port", port.port, p + ".port");
      r.str(pj, "protocol", port.protocol, p + ".protocol");
      if (port.protocol.empty()) port.protocol = "TCP";
      es.ports.push_back(std::move(port));
    }
  }
  const json* endpoints = r.array(obj, "endpoints", "endpoints");
  if (!endpoints) return;
  for (size_t i = 0; i < endpoints->size() && r.ok(); ++i) {
    const std::string p = index_path("endpoints", i);
    const json& ej = (*endpoints)[i];
    if (!ej.is_object()) {
      r.fail(p, "must be an object");
      return;
    }
    EndpointSlice::Endpoint ep;
    if (const json* addrs = r.array(ej, "addresses", p + ".addresses", true)) {
      for (size_t k = 0; k < addrs->size(); ++k) {
        if (!(*addrs)[k].is_string()) {
          r.fail(index_path(p + ".addresses", k), "must be a string");
          return;
        }
        ep.addresses.push_back((*addrs)[k].get<std::string>());
      }
    }
    if (const json* cond = r.object(ej, "conditions", p + ".conditions")) {
      r.opt_bool(*cond, "ready", ep.ready, p + ".conditions.ready");
      r.opt_bool(*cond, "serving", ep.serving, p + ".conditions.serving");
      r.opt_bool(*cond, "terminating", ep.terminating, p + ".conditions.terminating");
    }
    if (const json* target = r.object(ej, "targetRef", p + ".targetRef")) {
      r.str(*target, "kind", ep.target_kind, p + ".targetRef.kind");
      r.str(*target, "name", ep.target_name, p + ".targetRef.name");
    }
    es.endpoints.push_back(std::move(ep));
  }
}

struct KindInfo {
  ObjectKind kind;
  std::string_view name;
  std::string_view group;  // apiVersion prefix before '/', "" for core
  std::initializer_list<std::string_view> versions;
};

// Fills the error's object identity from metadata as far as it is readable (a name of the wrong
// type is left out rather than thrown on).
void name_error_object(const json& obj, std::string_view default_ns, ObjectError& e) {
  e.ns = std::string(default_ns);
  const json* m = Reader::member(obj, "metadata");
  if (!m || !m->is_object()) return;
  if (const json* n = Reader::member(*m, "name"); n && n->is_string()) e.name = n->get<std::string>();
  if (const json* n = Reader::member(*m, "namespace"); n && n->is_string()) {
    e.ns = n->get<std::string>();
  }
}

constexpr std::string_view kKindNames[] = {"ScaledObject", "Rollout", "Service", "EndpointSlice"};

ParsedObject finish(ObjectKind kind, const json& obj, std::string_view default_ns) {
  ParsedObject out;
  Reader r;
  ObjectMeta meta;
  read_meta(r, obj, meta, default_ns);
  const ObjectKey key = meta.key();  // meta is moved into the object below
  if (r.ok()) {
    switch (kind) {
      case ObjectKind::kScaledObject: {
        ScaledObject so;
        so.meta = std::move(meta);
        parse_scaled_object(r, obj, so);
        if (r.ok()) out.object = std::move(so);
        break;
      }
      case ObjectKind::kRollout: {
        Rollout ro;
        ro.meta = std::move(meta);
        parse_rollout(r, obj, ro);
        if (r.ok()) out.object = std::move(ro);
        break;
      }
      case ObjectKind::kService: {
        Service svc;
        svc.meta = std::move(meta);
        parse_service(r, obj, svc);
        if (r.ok()) out.object = std::move(svc);
        break;
      }
      case ObjectKind::kEndpointSlice: {
        EndpointSlice es;
        es.meta = std::move(meta);
        parse_endpoint_slice(r, obj, es);
        if (r.ok()) out.object = std::move(es);
        break;
      }
    }
  }
  if (!r.ok()) {
    ObjectError e;
    e.kind = std::string(kKindNames[static_cast<size_t>(kind)]);
    e.ns = key.ns.empty() ? std::string(default_ns) : key.ns;
    e.name = key.name;
    if (e.name.empty() && obj.is_object()) {
      // Name what we can even when metadata itself was the problem.
      if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
        if (auto n = m->find("name"); n != m->end() && n->is_string()) e.name = n->get<std::string>();
      }
    }
    e.field = r.error->first;
    e.reason = r.error->second;
    out.object.reset();
    out.error = std::move(e);
  }
  return out;
}

}  // namespace

std::string_view kind_name(ObjectKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

bool ScaledObject::targets_rollout() const {
  const size_t slash = target.api_version.find('/');
  const std::string group =
      slash == std::string::npos ? std::string() : target.api_version.substr(0, slash);
  return target.kind == "Rollout" && (group == "argoproj.io" || target.api_version.empty());
}

ObjectKind kind_of(const AnyObject& object) { return static_cast<ObjectKind>(object.index()); }

const ObjectMeta& meta_of(const AnyObject& object) {
  return std::visit([](const auto& o) -> const ObjectMeta& { return o.meta; }, object);
}

std::string ObjectError::message() const {
  std::string out = kind.empty() ? std::string("object") : kind;
  out += ' ';
  out += ns.empty() ? name : ns + "/" + name;
  out += ": ";
  out += field;
  out += ": ";
  out += reason;
  return out;
}

ParsedObject parse_object_as(ObjectKind kind, const nlohmann::json& object,
                             std::string_view default_namespace) {
  if (!object.is_object()) {
    ParsedObject out;
    out.error = ObjectError{std::string(kind_name(kind)), "", "", "(object)", "must be a map"};
    return out;
  }
  return finish(kind, object, default_namespace);
}

ParsedObject parse_object(const nlohmann::json& object, std::string_view default_namespace) {
  ParsedObject out;
  if (!object.is_object()) {
    out.error = ObjectError{"", "", "", "(document)", "must be a map (a Kubernetes object)"};
    return out;
  }
  auto kind_it = object.find("kind");
  auto api_it = object.find("apiVersion");
  if (kind_it == object.end() || !kind_it->is_string() || api_it == object.end() ||
      !api_it->is_string()) {
    out.error = ObjectError{"", "", "", kind_it == object.end() || !kind_it->is_string()
                                            ? "kind"
                                            : "apiVersion",
                            "required (a string)"};
    name_error_object(object, default_namespace, *out.error);
    return out;
  }
  const std::string kind = kind_it->get<std::string>();
  const std::string api = api_it->get<std::string>();
  static const KindInfo kKinds[] = {
      {ObjectKind::kScaledObject, "ScaledObject", "keda.sh", {"v1alpha1"}},
      {ObjectKind::kRollout, "Rollout", "argoproj.io", {"v1alpha1"}},
      {ObjectKind::kService, "Service", "", {"v1"}},
      {ObjectKind::kEndpointSlice, "EndpointSlice", "discovery.k8s.io", {"v1", "v1beta1"}},
  };
  for (const KindInfo& k : kKinds) {
    if (kind != k.name) continue;
    const size_t slash = api.find('/');
    const std::string group = slash == std::string::npos ? "" : api.substr(0, slash);
    const std::string version = slash == std::string::npos ? api : api.substr(slash + 1);
    if (group != k.group) break;  // same kind name, another API group: not ours
    bool known_version = false;
    for (auto v : k.versions) known_version |= v == version;
    if (!known_version) {
      out.error = ObjectError{kind, "", "", "apiVersion",
                              "\"" + api + "\" is not a version lockstep reads"};
      name_error_object(object, default_namespace, *out.error);
      return out;
    }
    return finish(k.kind, object, default_namespace);
  }
  out.ignored = true;
  return out;
}

}  // namespace lockstep::rollout
