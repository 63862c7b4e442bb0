#include "rollout/route_resolver.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace lockstep::rollout {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The host part of "host", "host:port" or "[v6]:port".
std::string address_host(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  const size_t colon = address.find(':');
  if (colon != std::string::npos && address.find(':', colon + 1) == std::string::npos) {
    return address.substr(0, colon);
  }
  return address;
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

}  // namespace

bool TriggerOwnership::owns(const ScaledObject::Trigger& trigger) const {
  if (trigger.type != "external" && trigger.type != "external-push") return false;
  if (scaler_hosts.empty()) return trigger.metadata.count("hosts") > 0;
  auto it = trigger.metadata.find("scalerAddress");
  if (it == trigger.metadata.end()) return false;
  const std::string host = lower(address_host(it->second));
  for (const auto& pattern : scaler_hosts) {
    const std::string p = lower(pattern);
    if (host == p || host == p + ".svc" || host.rfind(p + ".svc.", 0) == 0) return true;
  }
  return false;
}

// SplitMemory ---------------------------------------------------------------------------------

const SplitMemory::Entry& SplitMemory::observe(const std::string& key, const std::string& text,
                                               std::string* fresh_error) {
  Entry& e = entries_[key];
  if (e.text == text && (e.last_good || !e.error.empty())) return e;
  e.text = text;
  e.reported = false;
  SplitParse parsed = parse_split_annotation(text);
  if (parsed.split) {
    e.last_good = std::move(parsed.split);
    e.error.clear();
  } else {
    e.error = std::move(parsed.error);
    if (fresh_error) *fresh_error = e.error;
    e.reported = true;
  }
  return e;
}

void SplitMemory::forget_except(const std::vector<std::string>& keys) {
  std::set<std::string> keep(keys.begin(), keys.end());
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = keep.count(it->first) ? std::next(it) : entries_.erase(it);
  }
}

// Endpoints -----------------------------------------------------------------------------------

std::vector<v1::Endpoint> resolve_endpoints(const ClusterView& view, const std::string& ns,
                                            const std::string& service,
                                            std::optional<uint16_t> port,
                                            const std::string& port_name, std::string* problem) {
  std::vector<v1::Endpoint> out;
  auto svc_it = view.services.find({ns, service});
  if (svc_it == view.services.end()) {
    if (problem) *problem = "Service " + ns + "/" + service + " not found";
    return out;
  }
  const Service& svc = svc_it->second;
  const Service::Port* sp = nullptr;
  for (const auto& p : svc.ports) {
    if (!port_name.empty() ? p.name == port_name : port ? p.port == *port : svc.ports.size() == 1) {
      sp = &p;
      break;
    }
  }
  if (!sp) {
    if (problem) {
      *problem = "Service " + ns + "/" + service + " has no port " +
                 (!port_name.empty() ? "named \"" + port_name + "\""
                  : port             ? std::to_string(*port)
                                     : std::string("to choose (several ports; set port or portName)"));
    }
    return out;
  }
  auto slices = view.slices_by_service.find({ns, service});
  if (slices == view.slices_by_service.end()) return out;
  for (const ObjectKey& key : slices->second) {
    auto es_it = view.endpoint_slices.find(key);
    if (es_it == view.endpoint_slices.end()) continue;
    const EndpointSlice& es = es_it->second;
    if (es.address_type != "IPv4" && es.address_type != "IPv6") continue;
    std::optional<int32_t> target;
    for (const auto& p : es.ports) {
      if (p.name == sp->name && p.protocol == sp->protocol && p.port) target = p.port;
    }
    if (!target || *target < 1 || *target > 65535) continue;
    for (const auto& ep : es.endpoints) {
      // kube-proxy uses the first address of an endpoint; the others are fungible.
      if (!ep.is_ready() || ep.addresses.empty() || !valid_ip(ep.addresses.front())) continue;
      v1::Endpoint e;
      e.set_ip(ep.addresses.front());
      e.set_port(static_cast<uint32_t>(*target));
      out.push_back(std::move(e));
    }
  }
  // Sorted and unique (an endpoint may be in two slices while they are being rebalanced).
  std::sort(out.begin(), out.end(), [](const v1::Endpoint& a, const v1::Endpoint& b) {
    return a.ip() != b.ip() ? a.ip() < b.ip() : a.port() < b.port();
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const v1::Endpoint& a, const v1::Endpoint& b) {
                          return a.ip() == b.ip() && a.port() == b.port();
                        }),
            out.end());
  return out;
}

// Argo step state -----------------------------------------------------------------------------

RolloutContext rollout_context(const Rollout& ro) {
  RolloutContext ctx;
  ctx.rollout = ro.meta.ns + "/" + ro.meta.name;
  ctx.spec_replicas = ro.replicas_or_default();
  const auto& st = ro.status;
  ctx.aborted = st.abort;
  if (st.weights) {
    ctx.previous_stable_weight = st.weights->stable.weight;
    ctx.previous_canary_weight = st.weights->canary.weight;
  }
  if (!ro.canary) {
    if (ro.blue_green) ctx.stable_service = ro.blue_green->active_service;
    return ctx;  // blue-green or unknown strategy: one active side
  }
  const auto& c = *ro.canary;
  ctx.stable_service = c.stable_service;
  ctx.canary_service = c.canary_service;
  ctx.max_weight = c.max_traffic_weight;
  ctx.traffic_routing = c.traffic_routing;
  ctx.dynamic_stable_scale = c.dynamic_stable_scale;
  ctx.min_pods_per_replica_set = c.traffic_routing ? c.min_pods_per_replica_set.value_or(1) : 1;
  ctx.promoted = st.promote_full || st.stable_rs.empty() || st.current_pod_hash == st.stable_rs;
  if (ctx.promoted) {
    ctx.canary_scale_weight = ctx.max_weight;
    return ctx;
  }
  // Argo's GetCurrentCanaryStep: the step at currentStepIndex, none once every step is done.
  const int32_t n = static_cast<int32_t>(c.steps.size());
  const int32_t index = st.current_step_index.value_or(0);
  const bool in_steps = index >= 0 && index < n;
  // UseSetCanaryScale: needs traffic routing; ignored on abort unless the scale-down delay is 0.
  std::optional<Rollout::CanaryStep::CanaryScale> scale;
  if (in_steps && c.traffic_routing) {
    for (int32_t i = 0; i <= index; ++i) {
      if (c.steps[static_cast<size_t>(i)].set_canary_scale) {
        scale = c.steps[static_cast<size_t>(i)].set_canary_scale;
      }
    }
    if (scale && scale->match_traffic_weight) scale.reset();
    if (scale && st.abort && c.abort_scale_down_delay_seconds.value_or(30) != 0) scale.reset();
  }
  // GetCurrentSetWeight: 0 when aborted, maxWeight after the last step, else the last setWeight.
  int32_t set_weight = 0;
  if (st.abort) {
    set_weight = 0;
  } else if (!in_steps) {
    set_weight = ctx.max_weight;
  } else {
    for (int32_t i = index; i >= 0; --i) {
      if (c.steps[static_cast<size_t>(i)].set_weight) {
        set_weight = *c.steps[static_cast<size_t>(i)].set_weight;
        break;
      }
    }
  }
  ctx.canary_scale_weight = set_weight;
  if (scale) {
    if (scale->replicas) {
      ctx.canary_fixed_replicas = *scale->replicas;
    } else if (scale->weight) {
      ctx.canary_scale_weight = *scale->weight;
    }
  }
  return ctx;
}

// The table ------------------------------------------------------------------------------------

std::string_view role_name(v1::Role role) {
  switch (role) {
    case v1::ROLE_STABLE:
      return "stable";
    case v1::ROLE_CANARY:
      return "canary";
    default:
      return "other";
  }
}

uint64_t route_table_version(const v1::RouteTable& table) {
  // Only the routes count. A table without version and generation (a fresh build) serializes
  // as its routes alone, so it is hashed without a copy.
  const v1::RouteTable* routes_only = &table;
  v1::RouteTable copy;
  if (table.version() != 0 || table.generation() != 0) {
    copy.mutable_routes()->CopyFrom(table.routes());
    routes_only = &copy;
  }
  std::string bytes;
  bytes.reserve(routes_only->ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    routes_only->SerializeToCodedStream(&coded);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v == 0 ? 1 : v;
}

namespace {

struct Weights {
  int64_t stable = 0;
  int64_t canary = 0;
  std::vector<std::pair<std::string, int64_t>> additional;  // service, weight
};

}  // namespace

Resolution resolve_routes(const ClusterView& view, const TriggerSpecs& specs,
                          SplitMemory& memory) {
  Resolution out;
  std::map<std::pair<std::string, std::string>, std::string> claimed;  // (host, prefix) -> key
  std::vector<std::string> live_keys;
  for (const auto& [so_key, triggers] : specs) {
    if (triggers.empty()) continue;
    auto so_it = view.scaled_objects.find(so_key);
    if (so_it == view.scaled_objects.end()) continue;
    const ScaledObject& so = so_it->second;
    const std::string key = so_key.str();
    live_keys.push_back(key);
    RouteInfo& info = out.routes[key];
    info.key = key;
    const scaler::TriggerSpec& primary = triggers.front();

    std::set<std::string> hosts, prefixes;
    bool disagree = false;
    for (const auto& t : triggers) {
      for (const auto& h : t.hosts) hosts.insert(lower(h));
      for (const auto& p : t.path_prefixes) prefixes.insert(p);
      disagree |= t.service != primary.service || t.rollout != primary.rollout ||
                  t.port != primary.port || t.port_name != primary.port_name;
    }
    if (disagree) {
      info.problems.push_back("triggers disagree on service/rollout/port; the first trigger's are used");
    }
    if (prefixes.empty()) prefixes.insert("/");

    // Backends: the Rollout's services, else the trigger's `service`.
    std::string rollout_name;
    if (!primary.rollout.empty()) {
      rollout_name = primary.rollout;
      if (so.targets_rollout() && so.target.name != rollout_name) {
        info.problems.push_back("trigger names rollout \"" + rollout_name +
                                "\" but scaleTargetRef is Rollout \"" + so.target.name +
                                "\"; the trigger's is used");
      }
    } else if (so.targets_rollout()) {
      rollout_name = so.target.name;
    }
    std::string stable, canary;
    int64_t max_weight = 100;
    const Rollout* ro = nullptr;
    if (!rollout_name.empty()) {
      auto ro_it = view.rollouts.find({so_key.ns, rollout_name});
      if (ro_it == view.rollouts.end()) {
        info.problems.push_back("Rollout " + so_key.ns + "/" + rollout_name + " not found");
        continue;
      }
      ro = &ro_it->second;
      info.rollout = rollout_context(*ro);
      stable = info.rollout->stable_service;
      canary = info.rollout->canary_service;
      max_weight = info.rollout->max_weight;
      if (stable.empty()) {
        if (primary.service.empty()) {
          info.problems.push_back("Rollout " + so_key.ns + "/" + rollout_name +
                                  " has no stableService (nor blueGreen.activeService) and the "
                                  "trigger names no service");
          continue;
        }
        stable = primary.service;
      }
      if (canary == stable) canary.clear();
    } else {
      if (primary.service.empty()) {
        info.problems.push_back("the trigger names no service and scaleTargetRef is not a Rollout");
        continue;
      }
      stable = primary.service;
    }

    // The split: annotation, else (mid-canary) the Rollout's status weights, else all stable.
    Weights w;
    w.stable = max_weight;
    const Split* split = nullptr;
    auto ann = so.meta.annotations.find(std::string(kSplitAnnotation));
    if (ann != so.meta.annotations.end()) {
      std::string fresh;
      const SplitMemory::Entry& entry = memory.observe(key, ann->second, &fresh);
      if (!fresh.empty()) {
        out.invalid_annotations.push_back(
            ObjectError{"ScaledObject", so_key.ns, so_key.name,
                        "metadata.annotations[" + std::string(kSplitAnnotation) + "]", fresh});
      }
      if (!entry.error.empty()) {
        info.problems.push_back("split annotation invalid (" + entry.error + ")" +
                                (entry.last_good ? "; the last good split is kept" : ""));
      }
      if (entry.last_good) {
        const Split& s = *entry.last_good;
        const bool matches = s.stable_service == stable && (canary.empty() || s.canary_service == canary);
        if (!matches) {
          info.problems.push_back("split annotation names " + s.stable_service + "/" +
                                  s.canary_service + " but the backends are " + stable + "/" +
                                  (canary.empty() ? std::string("-") : canary) + "; ignored");
        } else {
          split = &s;
          info.split_source = entry.error.empty() ? "annotation" : "last-good-annotation";
        }
      }
    }
    if (split) {
      if (canary.empty()) canary = split->canary_service;  // a split on a plain Service
      max_weight = split->max_weight;
      w.canary = split->canary_weight;
      for (const auto& d : split->additional) w.additional.emplace_back(d.service, d.weight);
      w.stable = split->stable_weight();
      info.desired = *split;
      info.split_generation = split->generation;
    } else if (ro && info.rollout && !info.rollout->promoted && !info.rollout->aborted &&
               ro->status.weights) {
      const auto& sw = *ro->status.weights;
      int64_t rest = max_weight - sw.canary.weight;
      Weights candidate;
      candidate.canary = sw.canary.weight;
      bool ok = sw.canary.weight >= 0 && sw.canary.weight <= max_weight && !canary.empty();
      for (const auto& d : sw.additional) {
        ok = ok && d.weight >= 0 && !d.service_name.empty();
        candidate.additional.emplace_back(d.service_name, d.weight);
        rest -= d.weight;
      }
      if (ok && rest >= 0) {
        candidate.stable = rest;
        w = std::move(candidate);
        info.split_source = "rollout-status";
      } else {
        info.problems.push_back("Rollout status.canary.weights are inconsistent; all traffic to stable");
      }
    }

    v1::Route route;
    route.set_key(key);
    for (const auto& h : hosts) route.add_hosts(h);
    for (const auto& p : prefixes) route.add_path_prefixes(p);
    route.set_max_weight(static_cast<uint32_t>(max_weight));
    route.set_split_generation(info.split_generation);

    auto add_backend = [&](const std::string& service, v1::Role role, int64_t weight) {
      v1::Backend* b = route.add_backends();
      b->set_service(service);
      b->set_role(role);
      b->set_weight(static_cast<uint32_t>(std::max<int64_t>(0, weight)));
      std::string problem;
      auto endpoints = resolve_endpoints(view, so_key.ns, service, primary.port, primary.port_name,
                                         &problem);
      if (!problem.empty()) info.problems.push_back(problem);
      for (auto& e : endpoints) *b->add_endpoints() = std::move(e);
    };
    add_backend(stable, v1::ROLE_STABLE, w.stable);
    if (!canary.empty()) add_backend(canary, v1::ROLE_CANARY, w.canary);
    std::sort(w.additional.begin(), w.additional.end());
    for (const auto& [service, weight] : w.additional) {
      if (service == stable || service == canary) continue;
      add_backend(service, v1::ROLE_OTHER, weight);
    }
    if (split) {
      for (const auto& hr : split->header_routes) {
        v1::HeaderRoute* r = route.add_header_routes();
        r->set_name(hr.name);
        r->set_service(split->header_route_service(hr));
        for (const auto& m : hr.matches) {
          v1::HeaderMatch* hm = r->add_matches();
          hm->set_header(lower(m.header));
          hm->set_kind(m.kind == SplitHeaderMatch::Kind::kExact    ? v1::MATCH_KIND_EXACT
                       : m.kind == SplitHeaderMatch::Kind::kPrefix ? v1::MATCH_KIND_PREFIX
                                                                   : v1::MATCH_KIND_REGEX);
          hm->set_value(m.value);
        }
      }
    }

    // Two routes must not claim the same host and path prefix: the first key keeps it.
    std::string clash;
    for (const auto& h : hosts) {
      for (const auto& p : prefixes) {
        auto it = claimed.find({h, p});
        if (it != claimed.end()) {
          clash = "host " + h + " path " + p + " is already routed by " + it->second;
          break;
        }
      }
      if (!clash.empty()) break;
    }
    if (!clash.empty()) {
      info.problems.push_back(clash + "; route skipped");
      continue;
    }
    for (const auto& h : hosts) {
      for (const auto& p : prefixes) claimed.emplace(std::make_pair(h, p), key);
    }
    info.routed = true;
    *out.table.add_routes() = std::move(route);
  }
  memory.forget_except(live_keys);
  out.table.set_version(route_table_version(out.table));
  return out;
}

}  // namespace lockstep::rollout

namespace lockstep::rollout {

TriggerSpecs parse_lockstep_triggers(const ClusterView& view, const TriggerOwnership& ownership,
                                     std::vector<ObjectError>* errors) {
  TriggerSpecs out;
  for (const auto& [key, so] : view.scaled_objects) {
    for (size_t i = 0; i < so.triggers.size(); ++i) {
      const auto& t = so.triggers[i];
      if (!ownership.owns(t)) continue;
      auto parsed = scaler::parse_trigger_metadata(key.ns, key.name, t.metadata);
      if (parsed.spec) {
        if (parsed.spec->is_fleet()) continue;  // scales the proxies themselves: routes nothing
        out[key].push_back(std::move(*parsed.spec));
      } else if (errors && parsed.error) {
        errors->push_back(ObjectError{"ScaledObject", key.ns, key.name,
                                      "spec.triggers[" + std::to_string(i) + "].metadata." +
                                          parsed.error->key,
                                      parsed.error->message()});
      }
    }
  }
  return out;
}

}  // namespace lockstep::rollout
