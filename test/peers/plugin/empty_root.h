#pragma once

// The file tree of the Argo Rollouts controller image as the plugin sees it: the plugin binary,
// an empty /tmp and the mounted service-account files, nothing else. run_in_empty_root.sh
// (test/integration/plugin) mounts it read-only and runs the plugin in it as uid 999.

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "test/peers/plugin/plugin_cluster.h"

namespace lockstep::plugin::testing {

struct EmptyRoot {
  std::string root;
  std::string tmp;  // bind-mounted as root/tmp

  EmptyRoot(const PluginCluster& cluster, const std::string& binary) {
    char r[] = "/tmp/lockstep-emptyrootXXXXXX";
    char t[] = "/tmp/lockstep-emptytmpXXXXXX";
    REQUIRE(::mkdtemp(r) != nullptr);
    REQUIRE(::mkdtemp(t) != nullptr);
    root = r;
    tmp = t;
    ::chmod(root.c_str(), 0755);
    ::chmod(tmp.c_str(), 01777);
    std::filesystem::copy_file(binary, root + "/lockstep-rollouts-plugin");
    ::chmod((root + "/lockstep-rollouts-plugin").c_str(), 0755);
    std::filesystem::create_directory(root + "/tmp");
    const std::string sa = root + "/var/run/secrets/kubernetes.io/serviceaccount";
    std::filesystem::create_directories(sa);
    for (const char* d : {"/var", "/var/run", "/var/run/secrets", "/var/run/secrets/kubernetes.io",
                          "/var/run/secrets/kubernetes.io/serviceaccount"}) {
      ::chmod((root + d).c_str(), 0755);
    }
    std::ofstream(sa + "/token") << "test-token";
    std::ofstream(sa + "/ca.crt") << cluster.api().pki().ca_pem();
    std::ofstream(sa + "/namespace") << "argo-rollouts";
  }
  ~EmptyRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
    std::filesystem::remove_all(tmp, ignored);
  }
  // Nothing but these entries exist in the root.
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
      out.insert(e.path().string().substr(root.size()));
    }
    return out;
  }
};

}  // namespace lockstep::plugin::testing
