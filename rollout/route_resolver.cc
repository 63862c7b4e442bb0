#include "rollout/route_resolver.h"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/fnv.h"

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

void SplitMemory::forget(const std::string& key) { entries_.erase(key); }

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

std::string serialize_deterministic(const google::protobuf::MessageLite& message) {
  std::string bytes;
  bytes.reserve(message.ByteSizeLong());
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

namespace {

uint64_t sha256_64(const void* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, size, digest, &len, EVP_sha256(), nullptr);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

// FNV-1a over the fields of a route that make its split (everything but endpoints).
class Fnv {
 public:
  void bytes(std::string_view s) {
    for (unsigned char c : s) mix(c);
    mix(0xff);  // terminator: "ab","c" and "a","bc" differ
  }
  void number(uint64_t v) {
    for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(v >> (8 * i)));
  }
  uint64_t value() const { return h_; }

 private:
  void mix(unsigned char c) { h_ = fnv1a_byte(h_, c); }
  uint64_t h_ = kFnvOffset;
};

}  // namespace

uint64_t wire_hash(std::string_view wire) { return sha256_64(wire.data(), wire.size()); }

uint64_t combine_route_hashes(const std::vector<uint64_t>& hashes) {
  // Big-endian bytes, so the version does not depend on the host's byte order.
  std::string bytes;
  bytes.reserve(hashes.size() * 8);
  for (uint64_t h : hashes) {
    for (int i = 7; i >= 0; --i) bytes.push_back(static_cast<char>(h >> (8 * i)));
  }
  const uint64_t v = sha256_64(bytes.data(), bytes.size());
  return v == 0 ? 1 : v;
}

uint64_t route_table_version(const v1::RouteTable& table) {
  std::vector<uint64_t> hashes;
  hashes.reserve(static_cast<size_t>(table.routes_size()));
  for (const auto& r : table.routes()) hashes.push_back(wire_hash(serialize_deterministic(r)));
  return combine_route_hashes(hashes);
}

uint64_t split_fingerprint(const v1::Route& route) {
  Fnv f;
  f.bytes(route.key());
  f.number(static_cast<uint64_t>(route.hosts_size()));
  for (const auto& h : route.hosts()) f.bytes(h);
  f.number(static_cast<uint64_t>(route.path_prefixes_size()));
  for (const auto& p : route.path_prefixes()) f.bytes(p);
  f.number(route.max_weight());
  f.number(route.split_generation());
  f.number(static_cast<uint64_t>(route.backends_size()));
  for (const auto& b : route.backends()) {
    f.bytes(b.service());
    f.number(static_cast<uint64_t>(b.role()));
    f.number(b.weight());
  }
  f.number(static_cast<uint64_t>(route.header_routes_size()));
  for (const auto& hr : route.header_routes()) f.bytes(serialize_deterministic(hr));
  return f.value();
}

namespace {

struct Weights {
  int64_t stable = 0;
  int64_t canary = 0;
  std::vector<std::pair<std::string, int64_t>> additional;  // service, weight
};

}  // namespace

RouteCandidate resolve_route(const ClusterView& view, const ObjectKey& so_key,
                             const std::vector<scaler::TriggerSpec>& triggers, SplitMemory& memory,
                             std::vector<ObjectError>* invalid_annotations) {
  RouteCandidate out;
  RouteInfo& info = out.info;
  const std::string key = so_key.str();
  info.key = key;
  auto so_it = view.scaled_objects.find(so_key);
  if (triggers.empty() || so_it == view.scaled_objects.end()) {
    info.problems.push_back("no ScaledObject with a lockstep trigger");
    return out;
  }
  const ScaledObject& so = so_it->second;
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
    out.rollout = ObjectKey{so_key.ns, rollout_name};
    auto ro_it = view.rollouts.find(*out.rollout);
    if (ro_it == view.rollouts.end()) {
      info.problems.push_back("Rollout " + so_key.ns + "/" + rollout_name + " not found");
      return out;
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
        return out;
      }
      stable = primary.service;
    }
    if (canary == stable) canary.clear();
  } else {
    if (primary.service.empty()) {
      info.problems.push_back("the trigger names no service and scaleTargetRef is not a Rollout");
      return out;
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
    if (!fresh.empty() && invalid_annotations) {
      invalid_annotations->push_back(
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

  auto route = std::make_shared<v1::Route>();
  route->set_key(key);
  for (const auto& h : hosts) route->add_hosts(h);
  for (const auto& p : prefixes) route->add_path_prefixes(p);
  route->set_max_weight(static_cast<uint32_t>(max_weight));
  route->set_split_generation(info.split_generation);

  auto add_backend = [&](const std::string& service, v1::Role role, int64_t weight) {
    v1::Backend* b = route->add_backends();
    b->set_service(service);
    b->set_role(role);
    b->set_weight(static_cast<uint32_t>(std::max<int64_t>(0, weight)));
    out.services.push_back({so_key.ns, service});
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
      v1::HeaderRoute* r = route->add_header_routes();
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
  for (const auto& h : hosts) {
    for (const auto& p : prefixes) out.claims.emplace_back(h, p);
  }
  out.route = std::move(route);
  return out;
}

std::string claim_route(const RouteCandidate& candidate, RouteClaims& claimed) {
  for (const auto& claim : candidate.claims) {
    auto it = claimed.find(claim);
    if (it != claimed.end()) {
      return "host " + claim.first + " path " + claim.second + " is already routed by " +
             it->second + "; route skipped";
    }
  }
  for (const auto& claim : candidate.claims) claimed.emplace(claim, candidate.info.key);
  return {};
}

std::shared_ptr<const ResolvedRoute> settle_route(const RouteCandidate& candidate,
                                                  const std::string& clash) {
  auto out = std::make_shared<ResolvedRoute>();
  out->info = candidate.info;
  if (!candidate.route) return out;
  if (!clash.empty()) {
    out->info.problems.push_back(clash);
    return out;
  }
  out->info.routed = true;
  out->route = candidate.route;
  out->wire = serialize_deterministic(*candidate.route);
  out->hash = wire_hash(out->wire);
  out->split_fingerprint = split_fingerprint(*candidate.route);
  return out;
}

Resolution resolve_routes(const ClusterView& view, const TriggerSpecs& specs,
                          SplitMemory& memory) {
  Resolution out;
  RouteClaims claimed;
  std::vector<std::string> live_keys;
  std::vector<uint64_t> hashes;
  for (const auto& [so_key, triggers] : specs) {
    if (triggers.empty() || !view.scaled_objects.count(so_key)) continue;
    const RouteCandidate candidate =
        resolve_route(view, so_key, triggers, memory, &out.invalid_annotations);
    live_keys.push_back(candidate.info.key);
    const std::string clash = candidate.route ? claim_route(candidate, claimed) : std::string();
    auto settled = settle_route(candidate, clash);
    if (settled->route) {
      *out.table.add_routes() = *settled->route;
      hashes.push_back(settled->hash);
    }
    out.routes[candidate.info.key] = settled->info;
  }
  memory.forget_except(live_keys);
  out.table.set_version(combine_route_hashes(hashes));
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
