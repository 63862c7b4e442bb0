// The JSON the plugin reads itself: the per-Rollout plugin config, and log lines turned into
// hclog. (The split annotation's parser belongs to rollout/model and is fuzzed there.)
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "rollout/plugin/hclog_sink.h"
#include "rollout/plugin/rollout_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockstep::plugin;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  PluginConfig config;
  std::string error;
  if (parse_plugin_config(input, "rollout", config, error) && config.scaled_object.empty()) {
    __builtin_trap();  // a parsed config always names a ScaledObject
  }
  to_hclog_line(input, std::chrono::system_clock::time_point{});
  return 0;
}
