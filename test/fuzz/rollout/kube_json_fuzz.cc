// Kubernetes JSON as the API server sends it (objects, list items, watch event objects): every
// kind's parser takes any JSON value without crashing, and a parsed object keeps its identity.
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "rollout/model/objects.h"

using namespace lockstep::rollout;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  // A watch event wraps the object.
  const nlohmann::json& obj = j.is_object() && j.contains("object") ? j["object"] : j;
  ParsedObject any = parse_object(obj);
  if (any.object && any.error) std::abort();
  for (ObjectKind k : {ObjectKind::kScaledObject, ObjectKind::kRollout, ObjectKind::kService,
                       ObjectKind::kEndpointSlice}) {
    ParsedObject p = parse_object_as(k, obj, "fuzz");
    if (p.object) {
      if (kind_of(*p.object) != k || meta_of(*p.object).name.empty()) std::abort();
    } else if (!p.error || p.error->field.empty()) {
      std::abort();
    }
  }
  return 0;
}
