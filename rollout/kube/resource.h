#pragma once

#include <string>
#include <string_view>

namespace lockstep::kube {

// A Kubernetes resource type (group/version/plural), enough to build REST paths.
struct ResourceType {
  std::string_view group;    // "" for the core group ("v1")
  std::string_view version;  // "v1", "v1alpha1"
  std::string_view plural;   // path segment: "services", "scaledobjects"
  std::string_view kind;     // "Service", "ScaledObject"
  bool namespaced = true;

  // "v1" for the core group, else "<group>/<version>".
  std::string api_version() const;
  // Collection or object path: "/api/v1/namespaces/<ns>/services[/<name>]"; `ns` empty lists or
  // watches across all namespaces ("/apis/keda.sh/v1alpha1/scaledobjects").
  std::string path(std::string_view ns = {}, std::string_view name = {}) const;
  // "services" or "scaledobjects.keda.sh", as kubectl names it.
  std::string qualified_name() const;
};

inline constexpr ResourceType kScaledObjects{"keda.sh", "v1alpha1", "scaledobjects", "ScaledObject",
                                             true};
inline constexpr ResourceType kRollouts{"argoproj.io", "v1alpha1", "rollouts", "Rollout", true};
inline constexpr ResourceType kServices{"", "v1", "services", "Service", true};
inline constexpr ResourceType kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices",
                                              "EndpointSlice", true};

// Percent-encodes a query-parameter value (RFC 3986 unreserved characters pass through).
std::string url_encode(std::string_view value);

}  // namespace lockstep::kube
