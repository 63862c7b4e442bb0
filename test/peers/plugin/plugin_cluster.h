#pragma once

// Everything the plugin finds in a cluster, faked on loopback: the API server (TLS, bearer
// token) holding the Rollout's ScaledObject, the service-account files, and scaler replicas
// published through their Service's EndpointSlices.

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "test/peers/plugin/fake_scaler.h"
#include "test/support/kube/fake_api_server.h"
#include "test/support/kube/test_pki.h"

namespace lockstep::plugin::testing {

class PluginCluster {
 public:
  static constexpr const char* kNamespace = "shop";
  static constexpr const char* kScaledObject = "recommender-so";
  static constexpr const char* kScalerNamespace = "lockstep-system";
  static constexpr const char* kScalerService = "lockstep-scaler";

  explicit PluginCluster(size_t scaler_replicas = 2) {
    char tmpl[] = "/tmp/lockstep-plugin-saXXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    sa_dir_ = tmpl;
    lockstep::testing::TestPki::write_file(sa_dir_ + "/token", "test-token");
    lockstep::testing::TestPki::write_file(sa_dir_ + "/ca.crt", api_.pki().ca_pem());
    lockstep::testing::TestPki::write_file(sa_dir_ + "/namespace", "argo-rollouts");
    api_.upsert({{"apiVersion", "keda.sh/v1alpha1"},
                 {"kind", "ScaledObject"},
                 {"metadata", {{"name", kScaledObject}, {"namespace", kNamespace}}},
                 {"spec", {{"scaleTargetRef", {{"apiVersion", "argoproj.io/v1alpha1"},
                                               {"kind", "Rollout"},
                                               {"name", "recommender"}}}}}});
    scalers_ = std::make_unique<FakeScalerFleet>(api_, kScalerNamespace, kScalerService,
                                                 kNamespace, kScaledObject, scaler_replicas);
  }
  ~PluginCluster() {
    std::error_code ignored;
    std::filesystem::remove_all(sa_dir_, ignored);
  }

  lockstep::testing::FakeApiServer& api() { return api_; }
  const lockstep::testing::FakeApiServer& api() const { return api_; }
  FakeScalerFleet& scalers() { return *scalers_; }
  const std::string& serviceaccount_dir() const { return sa_dir_; }

  // The environment the controller's pod gives the plugin.
  std::map<std::string, std::string> env() const {
    return {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
            {"KUBERNETES_SERVICE_PORT", std::to_string(api_.port())}};
  }
  // The plugin's args (the ConfigMap entry's `args`).
  std::vector<std::string> plugin_args() const {
    return {"--serviceaccount-dir=" + sa_dir_, "--scaler-namespace=" + std::string(kScalerNamespace),
            "--scaler-service=" + std::string(kScalerService), "--verify-timeout=1s",
            "--log-level=debug"};
  }

  // The split annotation the ScaledObject holds now.
  std::optional<nlohmann::json> split() const {
    const auto so = api_.get("keda.sh/v1alpha1", "ScaledObject", kNamespace, kScaledObject);
    if (!so || !(*so)["metadata"].contains("annotations") ||
        !(*so)["metadata"]["annotations"].contains("lockstep.dev/split")) {
      return std::nullopt;
    }
    return nlohmann::json::parse((*so)["metadata"]["annotations"]["lockstep.dev/split"].get<std::string>());
  }

 private:
  lockstep::testing::FakeApiServer api_;
  std::string sa_dir_;
  std::unique_ptr<FakeScalerFleet> scalers_;
};

}  // namespace lockstep::plugin::testing
