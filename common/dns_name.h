#pragma once

#include <string_view>

namespace lockstep {

// Kubernetes name rules (RFC 1123 as Kubernetes applies them).
// A label: 1..63 characters of [a-z0-9-], starting and ending with [a-z0-9] (Service and
// Namespace names).
bool is_dns1123_label(std::string_view s);
// A subdomain: 1..253 characters, dot-separated labels of [a-z0-9-] (most object names, e.g. a
// ScaledObject's).
bool is_dns1123_subdomain(std::string_view s);

}  // namespace lockstep
