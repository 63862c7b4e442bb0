#include "rollout/plugin/plugin_options.h"

#include <charconv>
#include <string_view>

#include "common/dns_name.h"
#include "common/duration.h"

namespace lockstep::plugin {
namespace {

bool parse_millis(std::string_view flag, std::string_view text, std::chrono::milliseconds& out,
                  std::string& error) {
  std::chrono::nanoseconds d{};
  std::string why;
  if (!parse_duration(text, d, &why)) {
    error = std::string(flag) + ": " + why;
    return false;
  }
  if (d < std::chrono::milliseconds(1)) {
    error = std::string(flag) + ": must be at least 1ms";
    return false;
  }
  out = std::chrono::duration_cast<std::chrono::milliseconds>(d);
  return true;
}

}  // namespace

std::string plugin_usage() {
  return R"(usage: lockstep-rollouts-plugin [flags]

Argo Rollouts traffic-router plugin "lockstep/http". The Argo Rollouts controller starts it
(argo-rollouts-config, trafficRouterPlugins); it refuses to run otherwise.

  --log-level=info              debug, info, warn or error (hclog JSON on stderr)
  --transport=unix              unix (a socket in $TMPDIR) or tcp (127.0.0.1, PLUGIN_MIN_PORT..MAX)
  --serviceaccount-dir=DIR      token, ca.crt and namespace of the in-cluster identity
                                (default /var/run/secrets/kubernetes.io/serviceaccount)
  --scaler-service=NAME         scaler Service whose replicas VerifyWeight asks (lockstep-scaler)
  --scaler-namespace=NS         its namespace (lockstep-system)
  --scaler-admin-port=PORT      its admin port: EndpointSlice port name or number (http-admin)
  --kube-timeout=10s            deadline of one Kubernetes API request
  --verify-timeout=2s           deadline of one scaler replica's answer in VerifyWeight
  --call-workers=4              plugin calls served at once
  --version                     print the version and exit
)";
}

bool parse_plugin_options(int argc, const char* const* argv, PluginOptions& out,
                          std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--version") {
      out.version = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    const size_t eq = arg.find('=');
    if (arg.substr(0, 2) != "--" || eq == std::string_view::npos) {
      error = "unexpected argument \"" + std::string(arg) + "\" (flags are --name=value)";
      return false;
    }
    const std::string_view name = arg.substr(0, eq);
    const std::string_view value = arg.substr(eq + 1);
    if (name == "--log-level") {
      if (!parse_log_level(value, out.log_level)) {
        error = "--log-level: \"" + std::string(value) + "\" is not debug, info, warn or error";
        return false;
      }
    } else if (name == "--transport") {
      if (value == "unix") {
        out.transport = Transport::kUnix;
      } else if (value == "tcp") {
        out.transport = Transport::kTcp;
      } else {
        error = "--transport: \"" + std::string(value) + "\" is not unix or tcp";
        return false;
      }
    } else if (name == "--serviceaccount-dir") {
      if (value.empty()) {
        error = "--serviceaccount-dir: must not be empty";
        return false;
      }
      out.serviceaccount_dir = std::string(value);
    } else if (name == "--scaler-service" || name == "--scaler-namespace") {
      if (!is_dns1123_label(value)) {
        error = std::string(name) + ": \"" + std::string(value) + "\" is not a valid Kubernetes name";
        return false;
      }
      (name == "--scaler-service" ? out.scaler_service : out.scaler_namespace) = std::string(value);
    } else if (name == "--scaler-admin-port") {
      int port = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      const bool numeric = ec == std::errc() && end == value.data() + value.size();
      if (numeric ? (port < 1 || port > 65535) : !is_dns1123_label(value)) {
        error = "--scaler-admin-port: \"" + std::string(value) + "\" is not a port number or name";
        return false;
      }
      out.scaler_admin_port = std::string(value);
    } else if (name == "--kube-timeout") {
      if (!parse_millis(name, value, out.kube_timeout, error)) return false;
    } else if (name == "--verify-timeout") {
      if (!parse_millis(name, value, out.verify_timeout, error)) return false;
    } else if (name == "--call-workers") {
      size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > 64) {
        error = "--call-workers: must be a number from 1 to 64";
        return false;
      }
      out.call_workers = n;
    } else {
      error = "unknown flag " + std::string(name);
      return false;
    }
  }
  return true;
}

}  // namespace lockstep::plugin
