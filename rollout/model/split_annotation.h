#pragma once

// The `lockstep.dev/split` annotation on a ScaledObject: the desired traffic split, written by the
// Argo plugin (merge patch) and read by every scaler replica. Format: docs/split-annotation.md.
// This target (lockstep_rollout_model) links only nlohmann-json and the standard library, so the
// static plugin uses the same parser, validator and serializer as the scaler.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::rollout {

inline constexpr std::string_view kSplitAnnotation = "lockstep.dev/split";
inline constexpr size_t kMaxSplitAnnotationBytes = 64 * 1024;
inline constexpr size_t kMaxHeaderRoutes = 32;
inline constexpr size_t kMaxAdditionalDestinations = 16;
inline constexpr size_t kMaxRegexBytes = 256;

struct SplitDestination {
  std::string service;
  int64_t weight = 0;
  std::string pod_template_hash;  // informational (Argo's WeightDestination.podTemplateHash)
  bool operator==(const SplitDestination&) const = default;
};

struct SplitHeaderMatch {
  enum class Kind { kExact, kPrefix, kRegex };
  std::string header;  // as written; compared case-insensitively (the route table lower-cases it)
  Kind kind = Kind::kExact;
  std::string value;
  bool operator==(const SplitHeaderMatch&) const = default;
};

struct SplitHeaderRoute {
  std::string name;
  std::vector<SplitHeaderMatch> matches;  // all must hold
  std::string service;                    // empty = the canary service
  bool operator==(const SplitHeaderRoute&) const = default;
};

struct Split {
  uint64_t generation = 0;  // increases with every change the plugin writes
  std::string rollout;      // the Rollout that owns the split (informational)
  std::string stable_service;
  std::string canary_service;
  int64_t canary_weight = 0;
  int64_t max_weight = 100;
  std::vector<SplitDestination> additional;
  std::vector<SplitHeaderRoute> header_routes;

  // What the stable service receives: max_weight - canary - sum(additional).
  int64_t stable_weight() const;
  // The service a header route sends to (its own, else the canary).
  const std::string& header_route_service(const SplitHeaderRoute& r) const;
  bool operator==(const Split&) const = default;
};

// Result of parsing: the split, or an error naming the field ("canaryWeight: 120 is above
// maxWeight 100").
struct SplitParse {
  std::optional<Split> split;
  std::string error;
};

// Parses and validates an annotation value. Unknown keys are ignored (forward compatible).
SplitParse parse_split_annotation(std::string_view text);
// Validates a split built in code (the plugin's); "" when valid, else the error.
std::string validate_split(const Split& split);
// Canonical JSON: fixed key order, no whitespace, optional keys omitted when empty. parse(
// serialize(s)) == s for every valid s, and equal splits serialize to identical text.
std::string serialize_split_annotation(const Split& split);

}  // namespace lockstep::rollout
