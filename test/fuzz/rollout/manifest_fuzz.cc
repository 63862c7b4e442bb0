// YAML manifests (multi-document, List expansion, every kind lockstep reads): never crashes,
// never hangs, every error names a field.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rollout/manifest_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lockstep::rollout::ManifestContents c = lockstep::rollout::parse_manifest(text, "default");
  for (const auto& e : c.errors) {
    if (e.field.empty() || e.reason.empty()) std::abort();
  }
  if (!c.yaml_error.empty() && !c.objects.empty()) std::abort();
  return 0;
}
