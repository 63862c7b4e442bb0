// The JSON the plugin reads: the split annotation (written by any version of the plugin, or by
// hand), the per-Rollout plugin config, and log lines turned into hclog. A split that parses
// must survive a round trip unchanged.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rollout/plugin/hclog_sink.h"
#include "rollout/plugin/rollout_args.h"
#include "rollout/plugin/split_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockstep::plugin;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  SplitSpec split;
  std::string error;
  if (split_from_json(input, split, error)) {
    SplitSpec again;
    if (!split_from_json(split_to_json(split), again, error) || !(again == split)) std::abort();
  }
  PluginConfig config;
  parse_plugin_config(input, "rollout", config, error);
  to_hclog_line(input, std::chrono::system_clock::time_point{});
  return 0;
}
