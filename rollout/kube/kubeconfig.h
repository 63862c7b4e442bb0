#pragma once

// kubeconfig files (target lockstep_kubeconfig, which links yaml-cpp; lockstep_kube does not).

#include <string>
#include <string_view>

#include "rollout/kube/kube_config.h"

namespace lockstep::kube {

// Loads `path` (or, when empty, the first entry of $KUBECONFIG, else $HOME/.kube/config) and
// resolves `context` (empty: current-context): the cluster's server, certificate-authority(-data),
// insecure-skip-tls-verify and tls-server-name; the user's token, tokenFile,
// client-certificate(-data) and client-key(-data); the context's namespace. Relative file names
// are relative to the kubeconfig's folder. exec, auth-provider and basic auth are not supported
// and are reported as such. On failure returns false with `error` naming the file and field.
bool load_kubeconfig(const std::string& path, const std::string& context, KubeConfig& out,
                     std::string& error);

// The same from text; `base_dir` resolves relative file names.
bool parse_kubeconfig(const std::string& text, const std::string& base_dir,
                      const std::string& context, KubeConfig& out, std::string& error);

// Standard base64 (padding optional, whitespace ignored); false on any other character.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace lockstep::kube
