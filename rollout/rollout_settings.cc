#include "rollout/rollout_settings.h"

#include "rollout/kube/label_selector.h"

namespace lockstep::rollout {

using namespace std::chrono_literals;

std::vector<std::string> split_comma_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    const size_t b = item.find_first_not_of(" \t\n");
    const size_t e = item.find_last_not_of(" \t\n");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

namespace {

ConfigSchema::Check<std::string> selector_check() {
  return [](const std::string& v) -> std::optional<std::string> {
    std::string error;
    if (!kube::LabelSelector::parse(v, &error)) return error;
    return std::nullopt;
  };
}

ConfigSchema::Check<std::string> namespaces_check() {
  return [](const std::string& v) -> std::optional<std::string> {
    for (const auto& ns : split_comma_list(v)) {
      std::string why;
      if (!kube::is_dns1123_label(ns, &why)) return "namespace \"" + ns + "\" " + why;
    }
    return std::nullopt;
  };
}

}  // namespace

void bind_config(ConfigSchema& s, RolloutSettings& c) {
  s.add_choice("source.mode", &c.mode, {"off", "kubernetes", "standalone"},
               "Where ScaledObjects, Rollouts, Services and EndpointSlices come from: the API "
               "server (kubernetes), manifest files (standalone), or nowhere (off: no route "
               "table, KEDA answers only).");
  s.add_string("kubernetes.kubeconfig", &c.kubernetes.kubeconfig,
               "kubeconfig file. Empty: the in-cluster service account when "
               "KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config.");
  s.add_string("kubernetes.context", &c.kubernetes.context,
               "kubeconfig context (empty: current-context).");
  s.add_string("kubernetes.namespaces", &c.kubernetes.namespaces,
               "Comma-separated namespaces to watch; empty watches every namespace (needs "
               "cluster-wide list/watch RBAC).",
               namespaces_check());
  s.add_string("kubernetes.scaled_object_selector", &c.kubernetes.scaled_object_selector,
               "Label selector for the ScaledObjects watched (e.g. lockstep.dev/enabled=true).",
               selector_check());
  s.add_string("kubernetes.rollout_selector", &c.kubernetes.rollout_selector,
               "Label selector for the Rollouts watched.", selector_check());
  s.add_string("kubernetes.service_selector", &c.kubernetes.service_selector,
               "Label selector for the Services watched.", selector_check());
  s.add_string("kubernetes.endpoint_slice_selector", &c.kubernetes.endpoint_slice_selector,
               "Label selector for the EndpointSlices watched.", selector_check());
  s.add_duration("kubernetes.watch_timeout", &c.kubernetes.watch_timeout, 10s, 1h,
                 "timeoutSeconds of each watch; the watch is then reopened from the last "
                 "resourceVersion (no relist).");
  s.add_duration("kubernetes.request_timeout", &c.kubernetes.request_timeout, 1s, 10min,
                 "Deadline of one list page or other request.");
  s.add_duration("kubernetes.connect_timeout", &c.kubernetes.connect_timeout, 100ms, 1min,
                 "TCP connect plus TLS handshake deadline.");
  s.add_duration("kubernetes.backoff_initial", &c.kubernetes.backoff_initial, 10ms, 1min,
                 "First retry delay after a failed list or watch (doubles up to backoff_max, "
                 "with up to 50% jitter).");
  s.add_duration("kubernetes.backoff_max", &c.kubernetes.backoff_max, 100ms, 10min,
                 "Longest retry delay.");
  s.add_int("kubernetes.page_size", &c.kubernetes.page_size, 1, 100'000,
            "Objects per list page (limit/continue).");
  s.add_string("manifests.paths", &c.manifests.paths,
               "Comma-separated manifest files and folders (*.yaml, *.yml, *.json, searched "
               "recursively) for standalone mode.");
  s.add_duration("manifests.reload_interval", &c.manifests.reload_interval, 0ms, 1h,
                 "How often the files are checked for changes (mtime, size, inode); 0 loads them "
                 "once.");
  s.add_string("manifests.default_namespace", &c.manifests.default_namespace,
               "Namespace of manifest objects that name none.");
  s.add_string("routes.scaler_hosts", &c.routes.scaler_hosts,
               "Comma-separated hosts of `scalerAddress` that mean this scaler (e.g. "
               "lockstep-scaler.lockstep-system; .svc and .svc.<domain> forms match too). Only "
               "external/external-push triggers pointing here are lockstep's; empty takes every "
               "external trigger that has `hosts`.");
  s.add_int("routes.version_history", &c.routes.version_history, 2, 4096,
            "Route table versions remembered to tell which split each proxy applies.");
}

std::optional<ConfigError> validate_config(const RolloutSettings& c) {
  if (c.mode == "standalone" && split_comma_list(c.manifests.paths).empty()) {
    return ConfigError{"manifests.paths", "required when source.mode is standalone", ""};
  }
  if (c.kubernetes.backoff_max < c.kubernetes.backoff_initial) {
    return ConfigError{"kubernetes.backoff_max", "must not be below kubernetes.backoff_initial", ""};
  }
  return std::nullopt;
}

}  // namespace lockstep::rollout
