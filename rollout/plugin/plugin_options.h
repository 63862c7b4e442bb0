#pragma once

// Command-line options of lockstep-rollouts-plugin (given as the `args` list of its
// argo-rollouts-config entry).

#include <chrono>
#include <cstddef>
#include <string>

#include "common/log.h"
#include "rollout/plugin/plugin_process.h"

namespace lockstep::plugin {

struct PluginOptions {
  LogLevel log_level = LogLevel::kInfo;
  Transport transport = Transport::kUnix;
  std::string serviceaccount_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string scaler_service = "lockstep-scaler";
  std::string scaler_namespace = "lockstep-system";
  std::string scaler_admin_port = "http-admin";
  std::chrono::milliseconds kube_timeout{10000};
  std::chrono::milliseconds verify_timeout{2000};
  size_t call_workers = 4;
  bool version = false;
  bool help = false;
};

// Parses --name=value flags; false with `error` naming the flag and the reason.
bool parse_plugin_options(int argc, const char* const* argv, PluginOptions& out,
                          std::string& error);
std::string plugin_usage();

}  // namespace lockstep::plugin
