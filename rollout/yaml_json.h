#pragma once

// YAML documents as JSON values, with the scalar typing kubectl applies (sigs.k8s.io/yaml over
// YAML 1.1): plain `80` is a number, `true`/`yes`/`on` are booleans, `~`/`null` is null, and
// anything quoted stays a string. Bounded: nesting depth and node count (alias bombs) are capped.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace YAML {
class Node;
}

namespace lockstep::rollout {

struct YamlLimits {
  size_t max_depth = 64;
  size_t max_nodes = 1'000'000;  // after alias expansion
};

// Converts one node; false with `error` (naming the path) when a limit is hit or a map key is
// not a scalar.
bool yaml_to_json(const YAML::Node& node, nlohmann::json& out, std::string& error,
                  const YamlLimits& limits = {});

// Parses every document of a multi-document stream. False with `error` (line and column) when
// the text is not valid YAML; nothing is returned then.
bool parse_yaml_documents(std::string_view text, std::vector<nlohmann::json>& documents,
                          std::string& error, const YamlLimits& limits = {});

}  // namespace lockstep::rollout
