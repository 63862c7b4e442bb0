#pragma once

// The split the plugin keeps in the ScaledObject's `lockstep.dev/split` annotation (JSON; the
// format is shared with the scaler, see docs/split-annotation.md): the canary weight, the stable
// and canary Services, additional destinations and header routes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rollout/plugin/rollout_args.h"

namespace lockstep::plugin {

inline constexpr std::string_view kSplitAnnotation = "lockstep.dev/split";

struct SplitSpec {
  std::string stable_service;
  std::string canary_service;
  int64_t canary_weight = 0;
  int64_t max_weight = 100;
  std::vector<WeightDestination> additional;
  std::vector<HeaderRoute> header_routes;

  // Nothing to route differently from "everything to stable": the annotation can go.
  bool is_default() const;
  bool operator==(const SplitSpec&) const = default;
};

// Canonical JSON (stable key order), so that an unchanged split compares equal as text.
std::string split_to_json(const SplitSpec& split);
// Parses an annotation value; false with `error` naming the key and the reason.
bool split_from_json(std::string_view text, SplitSpec& out, std::string& error);

}  // namespace lockstep::plugin
