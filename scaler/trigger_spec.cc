#include "scaler/trigger_spec.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "common/config.h"
#include "common/dns_name.h"
#include "common/fnv.h"
#include "common/duration.h"

namespace lockstep::scaler {

std::string_view scaling_metric_name(ScalingMetric m) {
  return m == ScalingMetric::kConcurrency ? "concurrency" : "requestRate";
}

std::string MetadataError::message() const {
  return "trigger metadata \"" + key + "\" = \"" + value + "\": " + rule;
}

namespace {

constexpr std::string_view kKnownKeys[] = {
    "hosts",       "pathPrefixes", "service", "port",        "portName",       "rollout",
    "proxyFleet",  "scalingMetric", "targetValue", "window", "granularity", "activationValue"};

// Keys of an app's route, which a proxyFleet trigger must not carry.
constexpr std::string_view kRouteKeys[] = {"hosts", "pathPrefixes", "service",     "port",
                                           "portName", "rollout",   "rolloutAware"};

// Keys of extensions outside scaler/ (rollout/'s rolloutAware): validated here so KEDA gets
// INVALID_ARGUMENT for a bad value, then passed on in TriggerSpec::extra without a warning.
constexpr std::string_view kExtensionKeys[] = {"rolloutAware"};

// Keys that KEDA reads itself (external / external-push triggers); never ours, never warned about.
constexpr std::string_view kKedaKeys[] = {"scalerAddress", "enableTLS", "unsafeSsl", "caCert",
                                          "tlsClientCert", "tlsClientKey", "tlsCertFile"};

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    std::string_view item = s.substr(start, comma == std::string_view::npos ? s.npos : comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t' || item.front() == '\n')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t' || item.back() == '\n')) {
      item.remove_suffix(1);
    }
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(d)) return std::nullopt;
  // strtod also takes hex floats and "inf"; a metadata number is decimal.
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  return d;
}

std::string fnv_hex8(std::string_view s) {
  const uint64_t h = fnv1a(s);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(h ^ (h >> 32)));
  return buf;
}

// The keys that describe an app's route: hosts, pathPrefixes, service, rollout, port/portName.
std::optional<MetadataError> parse_route_keys(const std::map<std::string, std::string>& md,
                                              TriggerSpec& spec) {
  auto err = [](std::string key, std::string value, std::string rule) {
    return std::optional<MetadataError>(
        MetadataError{std::move(key), std::move(value), std::move(rule)});
  };
  auto get = [&](std::string_view key) -> const std::string* {
    auto it = md.find(std::string(key));
    return it == md.end() ? nullptr : &it->second;
  };
  // hosts: required, comma list of exact names or "*.domain".
  const std::string* hosts = get("hosts");
  if (hosts == nullptr || hosts->find_first_not_of(" ,\t\n") == std::string::npos) {
    return err("hosts", hosts ? *hosts : "", "required: a comma-separated list of host names");
  }
  std::set<std::string> seen_hosts;
  for (const std::string& h0 : split_list(*hosts)) {
    if (h0.empty()) continue;
    const std::string h = lower(h0);
    const bool wildcard = h.size() > 2 && h[0] == '*' && h[1] == '.';
    const std::string_view domain = wildcard ? std::string_view(h).substr(2) : std::string_view(h);
    if (h.find(':') != std::string::npos) {
      return err("hosts", *hosts, "host \"" + h0 + "\" must not carry a port");
    }
    if (!is_dns1123_subdomain(domain)) {
      return err("hosts", *hosts,
                 "host \"" + h0 + "\" is neither a DNS name nor \"*.\" followed by one");
    }
    if (seen_hosts.insert(h).second) spec.hosts.push_back(h);
  }

  // pathPrefixes: optional, default "/".
  if (const std::string* pp = get("pathPrefixes")) {
    for (const std::string& p : split_list(*pp)) {
      if (p.empty()) continue;
      if (p[0] != '/') return err("pathPrefixes", *pp, "prefix \"" + p + "\" must start with \"/\"");
      if (p.find_first_of(" ?#\t") != std::string::npos) {
        return err("pathPrefixes", *pp,
                   "prefix \"" + p + "\" must be a path (no spaces, \"?\" or \"#\")");
      }
      if (std::find(spec.path_prefixes.begin(), spec.path_prefixes.end(), p) ==
          spec.path_prefixes.end()) {
        spec.path_prefixes.push_back(p);
      }
    }
  }
  if (spec.path_prefixes.empty()) spec.path_prefixes.push_back("/");
  std::sort(spec.path_prefixes.begin(), spec.path_prefixes.end());

  if (const std::string* s = get("service")) {
    if (!is_dns1123_label(*s)) return err("service", *s, "must be a Service name (DNS-1123 label)");
    spec.service = *s;
  }
  if (const std::string* r = get("rollout")) {
    if (!is_dns1123_subdomain(*r)) {
      return err("rollout", *r, "must be a Rollout name (DNS-1123 subdomain)");
    }
    spec.rollout = *r;
  }
  const std::string* port = get("port");
  const std::string* port_name = get("portName");
  if (port != nullptr && port_name != nullptr) {
    return err("portName", *port_name, "set either port or portName, not both");
  }
  if (port != nullptr) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(port->c_str(), &end, 10);
    if (port->empty() || errno != 0 || end != port->c_str() + port->size() || v < 1 || v > 65535) {
      return err("port", *port, "must be an integer in [1, 65535]");
    }
    spec.port = static_cast<uint16_t>(v);
  }
  if (port_name != nullptr) {
    // Kubernetes port names: an IANA service name, at most 15 characters.
    if (!is_dns1123_label(*port_name) || port_name->size() > 15) {
      return err("portName", *port_name,
                 "must be a port name (at most 15 characters of [a-z0-9-])");
    }
    spec.port_name = *port_name;
  }
  return std::nullopt;
}

std::string shorten_metric_name(std::string full) {
  if (full.size() <= kMaxMetricName) return full;
  std::string cut = full.substr(0, kMaxMetricName - 9);
  while (!cut.empty() && (cut.back() == '-' || cut.back() == '.')) cut.pop_back();
  return cut + "-" + fnv_hex8(full);
}
}  // namespace

std::vector<std::string_view> trigger_metadata_keys() {
  std::vector<std::string_view> keys(std::begin(kKnownKeys), std::end(kKnownKeys));
  keys.insert(keys.end(), std::begin(kExtensionKeys), std::end(kExtensionKeys));
  return keys;
}

std::string metric_name_for(ScalingMetric metric, std::string_view ns, std::string_view name) {
  return shorten_metric_name(
      std::string("lockstep-") +
      (metric == ScalingMetric::kConcurrency ? "concurrency-" : "requestrate-") + lower(ns) + "-" +
      lower(name));
}

std::string fleet_metric_name_for(std::string_view ns, std::string_view name) {
  return shorten_metric_name("lockstep-fleet-concurrency-" + lower(ns) + "-" + lower(name));
}

ParseResult parse_trigger_metadata(std::string_view route_namespace, std::string_view route_name,
                                   const std::map<std::string, std::string>& md) {
  ParseResult result;
  auto fail = [&](std::string key, std::string value, std::string rule) {
    result.error = MetadataError{std::move(key), std::move(value), std::move(rule)};
    return result;
  };
  auto get = [&](std::string_view key) -> const std::string* {
    auto it = md.find(std::string(key));
    return it == md.end() ? nullptr : &it->second;
  };

  TriggerSpec spec;
  if (!is_dns1123_label(route_namespace)) {
    return fail("namespace", std::string(route_namespace),
                "the ScaledObject namespace must be a DNS-1123 label");
  }
  if (!is_dns1123_subdomain(route_name)) {
    return fail("name", std::string(route_name),
                "the ScaledObject name must be a DNS-1123 subdomain");
  }
  spec.route_namespace = route_namespace;
  spec.route_name = route_name;
  spec.route_key = std::string(route_namespace) + "/" + std::string(route_name);

  // proxyFleet: the proxies' own load instead of an app's route (the chart's ScaledObject for the
  // proxy Deployment, like the HTTP add-on's interceptors).
  const std::string* fleet = get("proxyFleet");
  if (fleet != nullptr) {
    std::string why;
    if (!aggregator::valid_route_key(*fleet, &why)) {
      return fail("proxyFleet", *fleet,
                  "must be \"namespace/name\" of the proxies' Deployment (" + why + ")");
    }
    for (std::string_view key : kRouteKeys) {
      if (const std::string* v = get(key)) {
        return fail(std::string(key), *v,
                    "does not apply with proxyFleet (a proxyFleet trigger scales the proxies on "
                    "their own load and routes nothing)");
      }
    }
    spec.proxy_fleet = *fleet;
    spec.metric = ScalingMetric::kConcurrency;
  } else if (auto e = parse_route_keys(md, spec)) {
    result.error = std::move(e);
    return result;
  }

  if (const std::string* m = get("scalingMetric")) {
    if (*m == "requestRate") {
      if (spec.is_fleet()) {
        return fail("scalingMetric", *m,
                    "a proxyFleet trigger scales on concurrency (in-flight plus held requests "
                    "of the fleet's proxies) only");
      }
      spec.metric = ScalingMetric::kRequestRate;
    } else if (*m == "concurrency") {
      spec.metric = ScalingMetric::kConcurrency;
    } else {
      return fail("scalingMetric", *m, "must be requestRate or concurrency");
    }
  }

  const std::string* target = get("targetValue");
  if (target == nullptr) {
    return fail("targetValue", "", "required: the metric value one replica handles (> 0)");
  }
  const auto tv = parse_number(*target);
  if (!tv) return fail("targetValue", *target, "must be a decimal number");
  if (*tv <= 0) return fail("targetValue", *target, "must be > 0");
  if (*tv < 0.001) {
    return fail("targetValue", *target, "must be at least 0.001 (KEDA keeps three decimals)");
  }
  spec.target_value = *tv;

  auto parse_ms = [&](std::string_view key, const std::string& text,
                      std::chrono::milliseconds& out) -> bool {
    std::chrono::nanoseconds d{};
    std::string why;
    if (!parse_duration(text, d, &why)) {
      fail(std::string(key), text, "must be a duration like 500ms, 30s or 1m30s (" + why + ")");
      return false;
    }
    if (d % std::chrono::milliseconds(1) != std::chrono::nanoseconds(0)) {
      fail(std::string(key), text, "must be a whole number of milliseconds");
      return false;
    }
    out = std::chrono::duration_cast<std::chrono::milliseconds>(d);
    return true;
  };
  const std::string* window = get("window");
  const std::string* granularity = get("granularity");
  if (granularity != nullptr && !parse_ms("granularity", *granularity, spec.granularity)) {
    return result;
  }
  if (window != nullptr && !parse_ms("window", *window, spec.window)) return result;
  const std::string gtext = granularity ? *granularity : format_duration(spec.granularity);
  const std::string wtext = window ? *window : format_duration(spec.window);
  if (spec.granularity < std::chrono::milliseconds(100)) {
    return fail("granularity", gtext, "must be at least 100ms");
  }
  if (spec.window > std::chrono::hours(1)) return fail("window", wtext, "must be at most 1h");
  if (spec.window < spec.granularity) {
    return fail("window", wtext, "must be at least the granularity (" + gtext + ")");
  }
  if (spec.window % spec.granularity != std::chrono::milliseconds(0)) {
    return fail("window", wtext, "must be a multiple of the granularity (" + gtext + ")");
  }
  if (static_cast<size_t>(spec.window / spec.granularity) > kMaxBucketsPerWindow) {
    return fail("window", wtext,
                "holds " + std::to_string(spec.window / spec.granularity) + " buckets of " + gtext +
                    ", more than " + std::to_string(kMaxBucketsPerWindow) +
                    " (use a coarser granularity)");
  }

  if (const std::string* a = get("activationValue")) {
    const auto av = parse_number(*a);
    if (!av) return fail("activationValue", *a, "must be a decimal number");
    if (*av < 0) return fail("activationValue", *a, "must be >= 0");
    spec.activation_value = *av;
  }

  // Unknown keys: kept, and warned about (with a suggestion for likely typos).
  for (const auto& [k, v] : md) {
    if (std::find(std::begin(kKnownKeys), std::end(kKnownKeys), k) != std::end(kKnownKeys)) {
      continue;
    }
    if (std::find(std::begin(kKedaKeys), std::end(kKedaKeys), k) != std::end(kKedaKeys)) continue;
    spec.extra.emplace(k, v);
    if (std::find(std::begin(kExtensionKeys), std::end(kExtensionKeys), k) !=
        std::end(kExtensionKeys)) {
      if (k == "rolloutAware" && v != "true" && v != "false") {
        return fail("rolloutAware", v, "must be \"true\" or \"false\"");
      }
      if (k == "rolloutAware" && v == "true" && spec.metric != ScalingMetric::kRequestRate) {
        return fail("rolloutAware", v, "applies to scalingMetric requestRate only");
      }
      continue;
    }
    std::string best;
    size_t best_d = 3;
    for (std::string_view known : kKnownKeys) {
      const size_t d = edit_distance(lower(k), lower(known));
      if (d < best_d) {
        best_d = d;
        best = known;
      }
    }
    spec.warnings.push_back(best.empty()
                                ? "unknown trigger metadata key \"" + k + "\" (ignored)"
                                : "unknown trigger metadata key \"" + k +
                                      "\" (ignored; did you mean \"" + best + "\"?)");
  }

  spec.metric_name = spec.is_fleet()
                         ? fleet_metric_name_for(spec.route_namespace, spec.route_name)
                         : metric_name_for(spec.metric, spec.route_namespace, spec.route_name);
  result.spec = std::move(spec);
  return result;
}

}  // namespace lockstep::scaler
