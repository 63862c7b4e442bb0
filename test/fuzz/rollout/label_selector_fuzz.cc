// Label selectors (config and the fake API server's query parameter): parse, print canonically,
// parse again to the same selector.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rollout/kube/label_selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto s = lockstep::kube::LabelSelector::parse(text, &error);
  if (!s) {
    if (error.empty()) std::abort();
    return 0;
  }
  const std::string canonical = s->to_string();
  auto again = lockstep::kube::LabelSelector::parse(canonical, &error);
  if (!again || again->to_string() != canonical) std::abort();
  s->matches({{"app", "web"}, {"gen", "3"}});
  return 0;
}
