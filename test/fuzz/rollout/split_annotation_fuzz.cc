// The lockstep.dev/split annotation: any text is either rejected with a field-naming error or
// parses into a valid split whose canonical form parses back to the same split (round trip).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rollout/model/split_annotation.h"

using namespace lockstep::rollout;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  SplitParse p = parse_split_annotation(text);
  if (!p.split) {
    if (p.error.empty()) std::abort();
    return 0;
  }
  if (!validate_split(*p.split).empty()) std::abort();
  if (p.split->stable_weight() < 0) std::abort();
  const std::string canonical = serialize_split_annotation(*p.split);
  SplitParse again = parse_split_annotation(canonical);
  if (!again.split || !(*again.split == *p.split)) std::abort();
  if (serialize_split_annotation(*again.split) != canonical) std::abort();
  return 0;
}
