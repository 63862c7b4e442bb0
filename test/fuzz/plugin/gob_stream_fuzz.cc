// The gob decoder on arbitrary streams, with and without the plugin's selector, and the argument
// readers on whatever decodes: nothing may crash, hang or allocate without bound.
#include <cstdint>
#include <string_view>

#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/rollout_args.h"

namespace {

using namespace lockstep::plugin;

void exercise(const gob::Value& v) {
  const gob::Value& a = v.concrete();
  RolloutRef ro;
  std::string error;
  read_rollout(a["Rollout"], ro, error);
  std::vector<WeightDestination> dests;
  read_destinations(a["AdditionalDestinations"], "AdditionalDestinations", dests, error);
  HeaderRoute header;
  read_header_route(a["SetHeaderRoute"], header, error);
  MirrorRoute mirror;
  read_mirror_route(a["SetMirrorRoute"], mirror, error);
  int64_t weight = 0;
  read_int(a["DesiredWeight"], "DesiredWeight", weight, error);
  validate_weights(ro, weight, dests, error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  gob::Limits limits;
  limits.max_message_bytes = 1 << 20;
  limits.max_nodes = 200000;
  for (const gob::Selector* select : {static_cast<const gob::Selector*>(nullptr), &plugin_args_selector()}) {
    gob::Decoder decoder(limits);
    gob::BufferSource source(input);
    try {
      gob::Value v;
      for (int i = 0; i < 256 && decoder.decode(source, v, select); ++i) exercise(v);
    } catch (const gob::Error&) {
    }
  }
  return 0;
}
