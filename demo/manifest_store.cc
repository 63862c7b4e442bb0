#include "demo/manifest_store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/duration.h"

namespace lockstep::demo {

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0') return false;
  *out = v;
  return true;
}

// Argo durations: an integer (seconds) or a Go duration string.
bool parse_argo_duration(const std::string& text, std::chrono::milliseconds* out) {
  int64_t seconds = 0;
  if (parse_int(text, &seconds)) {
    *out = std::chrono::seconds(seconds);
    return true;
  }
  std::chrono::nanoseconds ns{};
  std::string why;
  if (!parse_duration(text, ns, &why)) return false;
  *out = std::chrono::duration_cast<std::chrono::milliseconds>(ns);
  return true;
}

// n[k1][k2]... without yaml-cpp's InvalidNode on a missing key: an undefined node instead.
YAML::Node at_path(const YAML::Node& n, const char* const* key, const char* const* end) {
  if (key == end) return n;
  if (!n || !n.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node next = n[*key];
  if (!next) return YAML::Node(YAML::NodeType::Undefined);
  return at_path(next, key + 1, end);
}

YAML::Node at(const YAML::Node& n, std::initializer_list<const char*> keys) {
  return at_path(n, keys.begin(), keys.end());
}

// yaml-cpp marks quoted scalars with the non-specific tag "!". The emitter below keeps them
// quoted (YAML::Emitter << node would write `targetValue: 100`, a number, where Kubernetes
// wants the string "100"); scalars set in code are tagged "!" by quoted_scalar().
void emit_node(YAML::Emitter& out, const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : n) {
        out << YAML::Key;
        emit_node(out, kv.first);
        out << YAML::Value;
        emit_node(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : n) emit_node(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (n.Tag() == "!") {
        out << YAML::DoubleQuoted << n.Scalar();
      } else {
        out << n.Scalar();
      }
      break;
    default:
      out << YAML::Null;
  }
}

std::string to_yaml(const YAML::Node& n) {
  YAML::Emitter out;
  emit_node(out, n);
  return std::string(out.c_str()) + "\n";
}

YAML::Node quoted_scalar(const std::string& value) {
  YAML::Node n(value);
  n.SetTag("!");
  return n;
}

std::string scalar(const YAML::Node& n, const std::string& fallback = "") {
  return n && n.IsScalar() ? n.Scalar() : fallback;
}

}  // namespace

bool ManifestStore::prepare(const std::string& source_dir, const std::string& runtime_dir,
                            const std::map<std::string, std::string>& trigger_overrides,
                            const std::map<std::string, std::string>& spec_overrides,
                            std::string* error) {
  std::error_code ec;
  fs::create_directories(runtime_dir, ec);
  if (ec) {
    *error = runtime_dir + ": " + ec.message();
    return false;
  }
  runtime_dir_ = runtime_dir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(source_dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  if (ec || files.empty()) {
    *error = source_dir + ": no *.yaml manifests" + (ec ? " (" + ec.message() + ")" : "");
    return false;
  }
  std::sort(files.begin(), files.end());
  bool have_so = false, have_rollout = false;
  for (const auto& file : files) {
    const std::string target = (fs::path(runtime_dir) / file.filename()).string();
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(read_file(file.string()));
    } catch (const YAML::Exception& e) {
      *error = file.string() + ": " + e.what();
      return false;
    }
    bool rewritten = false;
    for (auto& doc : docs) {
      const std::string kind = scalar(at(doc, {"kind"}));
      if (kind == "ScaledObject" && !have_so) {
        have_so = true;
        rewritten = true;
        scaled_object_file_ = target;
        for (auto t : doc["spec"]["triggers"]) {
          if (scalar(at(t, {"type"})) != "external-push") continue;
          for (const auto& [k, v] : trigger_overrides) t["metadata"][k] = quoted_scalar(v);
        }
        for (const auto& [k, v] : spec_overrides) {
          if (k == "stabilizationWindowSeconds") {
            doc["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
               ["stabilizationWindowSeconds"] = v;
          } else {
            doc["spec"][k] = v;
          }
        }
        scaled_object_node_ = doc;
      } else if (kind == "Rollout" && !have_rollout) {
        have_rollout = true;
        rewritten = true;
        rollout_file_ = target;
        rollout_node_ = doc;
      }
    }
    if (rewritten) {
      if (docs.size() != 1) {
        *error = file.string() + ": keep the ScaledObject and the Rollout in files of their own";
        return false;
      }
      write_atomically(target, to_yaml(docs[0]));
    } else {
      fs::copy_file(file, target, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        *error = target + ": " + ec.message();
        return false;
      }
    }
  }
  if (!have_so || !have_rollout) {
    *error = source_dir + ": needs one ScaledObject and one Rollout";
    return false;
  }

  // The ScaledObject, with KEDA's defaults.
  const YAML::Node so = scaled_object_node_;
  ScaledObjectInfo& s = scaled_object_;
  s.ns = scalar(at(so, {"metadata", "namespace"}), "default");
  s.name = scalar(at(so, {"metadata", "name"}));
  s.target_kind = scalar(at(so, {"spec", "scaleTargetRef", "kind"}), "Deployment");
  s.target_name = scalar(at(so, {"spec", "scaleTargetRef", "name"}));
  auto int_key = [&](const YAML::Node& n, const char* key, int64_t* out) -> bool {
    if (!n) return true;
    if (!parse_int(scalar(n), out)) {
      *error = "ScaledObject " + s.name + ": " + key + " must be an integer";
      return false;
    }
    return true;
  };
  int64_t v = s.min_replicas;
  if (!int_key(at(so, {"spec", "minReplicaCount"}), "minReplicaCount", &v)) return false;
  s.min_replicas = static_cast<int32_t>(v);
  v = s.max_replicas;
  if (!int_key(at(so, {"spec", "maxReplicaCount"}), "maxReplicaCount", &v)) return false;
  s.max_replicas = static_cast<int32_t>(v);
  v = 30;
  if (!int_key(at(so, {"spec", "pollingInterval"}), "pollingInterval", &v)) return false;
  s.polling_interval = std::chrono::seconds(v);
  v = 300;
  if (!int_key(at(so, {"spec", "cooldownPeriod"}), "cooldownPeriod", &v)) return false;
  s.cooldown = std::chrono::seconds(v);
  const YAML::Node behavior = at(so, {"spec", "advanced", "horizontalPodAutoscalerConfig", "behavior"});
  v = 300;
  if (!int_key(at(behavior, {"scaleDown", "stabilizationWindowSeconds"}), "scaleDown.stabilizationWindowSeconds", &v)) {
    return false;
  }
  s.scale_down_stabilization = std::chrono::seconds(v);
  v = 0;
  if (!int_key(at(behavior, {"scaleUp", "stabilizationWindowSeconds"}), "scaleUp.stabilizationWindowSeconds", &v)) {
    return false;
  }
  s.scale_up_stabilization = std::chrono::seconds(v);
  for (const auto& t : at(so, {"spec", "triggers"})) {
    ScaledObjectInfo::Trigger trigger;
    trigger.type = scalar(at(t, {"type"}));
    for (const auto& kv : at(t, {"metadata"})) trigger.metadata[kv.first.Scalar()] = scalar(kv.second);
    s.triggers.push_back(std::move(trigger));
  }
  if (s.name.empty() || s.target_name.empty() || s.min_replicas < 0 ||
      s.max_replicas < std::max(1, s.min_replicas)) {
    *error = "ScaledObject: needs metadata.name, scaleTargetRef.name and 0 <= min <= max, max >= 1";
    return false;
  }

  // The Rollout.
  const YAML::Node ro = rollout_node_;
  RolloutInfo& r = rollout_;
  r.ns = scalar(at(ro, {"metadata", "namespace"}), "default");
  r.name = scalar(at(ro, {"metadata", "name"}));
  const YAML::Node canary = at(ro, {"spec", "strategy", "canary"});
  r.stable_service = scalar(at(canary, {"stableService"}));
  r.canary_service = scalar(at(canary, {"canaryService"}));
  r.dynamic_stable_scale = scalar(at(canary, {"dynamicStableScale"})) == "true";
  v = 100;
  if (at(canary, {"trafficRouting", "maxTrafficWeight"}) &&
      !parse_int(scalar(at(canary, {"trafficRouting", "maxTrafficWeight"})), &v)) {
    *error = "Rollout " + r.name + ": maxTrafficWeight must be an integer";
    return false;
  }
  r.max_weight = static_cast<int32_t>(v);
  for (const auto& step : at(canary, {"steps"})) {
    RolloutInfo::Step st;
    if (at(step, {"setWeight"})) {
      if (!parse_int(scalar(at(step, {"setWeight"})), &v) || v < 0 || v > r.max_weight) {
        *error = "Rollout " + r.name + ": setWeight must be an integer in [0, maxTrafficWeight]";
        return false;
      }
      st.set_weight = static_cast<int32_t>(v);
    } else if (at(step, {"pause"})) {
      st.pause_step = true;
      if (at(step, {"pause", "duration"})) {
        std::chrono::milliseconds d{};
        if (!parse_argo_duration(scalar(at(step, {"pause", "duration"})), &d)) {
          *error = "Rollout " + r.name + ": pause.duration is not a duration";
          return false;
        }
        st.pause = d;
      }
    }
    // Other steps (analysis, experiment, setCanaryScale ...) are kept, so that indices match
    // status.currentStepIndex, and passed over by the demo.
    r.steps.push_back(st);
  }
  if (r.stable_service.empty() || r.canary_service.empty()) {
    *error = "Rollout " + r.name + ": the demo needs a canary strategy with stableService and canaryService";
    return false;
  }
  if (s.target_kind != "Rollout" || s.target_name != r.name || s.ns != r.ns) {
    *error = "ScaledObject " + s.name + " must target the Rollout " + r.ns + "/" + r.name;
    return false;
  }
  return true;
}

void ManifestStore::write_atomically(const std::string& file, const std::string& text) {
  // Not *.yaml: the scaler's folder scan never sees the temporary file.
  const std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::rename(tmp.c_str(), file.c_str());
  ++writes_;
}

void ManifestStore::write_split_annotation(const std::optional<std::string>& value) {
  std::lock_guard<std::mutex> lock(mu_);
  YAML::Node meta = scaled_object_node_["metadata"];
  if (value) {
    meta["annotations"]["lockstep.dev/split"] = quoted_scalar(*value);
  } else if (meta["annotations"]) {
    meta["annotations"].remove("lockstep.dev/split");
    if (meta["annotations"].size() == 0) meta.remove("annotations");
  }
  write_atomically(scaled_object_file_, to_yaml(scaled_object_node_));
}

void ManifestStore::write_rollout(const RolloutStatusView& view) {
  std::lock_guard<std::mutex> lock(mu_);
  rollout_node_["spec"]["replicas"] = view.spec_replicas;
  YAML::Node status(YAML::NodeType::Map);
  status["replicas"] = view.hpa_replicas;
  status["HPAReplicas"] = view.hpa_replicas;
  status["selector"] = quoted_scalar("app.kubernetes.io/name=" + rollout_.name);
  if (!view.stable_rs.empty()) status["stableRS"] = quoted_scalar(view.stable_rs);
  if (!view.current_pod_hash.empty()) status["currentPodHash"] = quoted_scalar(view.current_pod_hash);
  if (view.abort) status["abort"] = true;
  if (view.current_step_index) status["currentStepIndex"] = *view.current_step_index;
  if (view.weights_present) {
    YAML::Node weights;
    weights["canary"]["weight"] = view.canary_weight;
    weights["canary"]["serviceName"] = quoted_scalar(rollout_.canary_service);
    weights["canary"]["podTemplateHash"] = quoted_scalar(view.current_pod_hash);
    weights["stable"]["weight"] = view.stable_weight;
    weights["stable"]["serviceName"] = quoted_scalar(rollout_.stable_service);
    weights["stable"]["podTemplateHash"] = quoted_scalar(view.stable_rs);
    status["canary"]["weights"] = weights;
  }
  rollout_node_["status"] = status;
  write_atomically(rollout_file_, to_yaml(rollout_node_));
}

void ManifestStore::write_endpoints(const std::vector<EndpointView>& endpoints) {
  std::string text =
      "# Written by the demo's EndpointSlice controller stand-in: one slice per Service and pod\n"
      "# (each demo pod listens on its own loopback port).\n";
  for (const auto& ep : endpoints) {
    YAML::Node slice;
    slice["apiVersion"] = "discovery.k8s.io/v1";
    slice["kind"] = "EndpointSlice";
    slice["metadata"]["name"] = quoted_scalar(ep.service + "-" + ep.pod.substr(ep.pod.rfind('-') + 1));
    slice["metadata"]["namespace"] = rollout_.ns;
    slice["metadata"]["labels"]["kubernetes.io/service-name"] = ep.service;
    slice["addressType"] = "IPv4";
    YAML::Node port;
    port["name"] = "http";
    port["port"] = static_cast<int>(ep.port);
    port["protocol"] = "TCP";
    slice["ports"].push_back(port);
    YAML::Node endpoint;
    endpoint["addresses"].push_back("127.0.0.1");
    endpoint["conditions"]["ready"] = ep.ready;
    endpoint["conditions"]["serving"] = ep.ready || ep.terminating;
    endpoint["conditions"]["terminating"] = ep.terminating;
    endpoint["targetRef"]["kind"] = "Pod";
    endpoint["targetRef"]["name"] = quoted_scalar(ep.pod);
    endpoint["targetRef"]["namespace"] = rollout_.ns;
    slice["endpoints"].push_back(endpoint);
    text += "---\n" + to_yaml(slice);
  }
  std::lock_guard<std::mutex> lock(mu_);
  write_atomically((fs::path(runtime_dir_) / "endpointslices.yaml").string(), text);
}

uint64_t ManifestStore::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

}  // namespace lockstep::demo
