// kubeconfig files: any YAML either yields a configuration or an error; never crashes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "rollout/kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  lockstep::kube::KubeConfig cfg;
  std::string error;
  // Relative file names resolve under a folder that does not exist: no file is read.
  if (lockstep::kube::parse_kubeconfig(text, "/nonexistent-lockstep-fuzz", "", cfg, error)) {
    if (cfg.host.empty()) std::abort();
  } else if (error.empty()) {
    std::abort();
  }
  std::string decoded;
  lockstep::kube::base64_decode(text, decoded);
  return 0;
}
