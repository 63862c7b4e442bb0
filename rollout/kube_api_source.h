#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "rollout/kube/kube_client.h"
#include "rollout/kube/reflector.h"
#include "rollout/object_source.h"

namespace lockstep::rollout {

// Kubernetes mode's source: one Reflector (list + watch, relist on 410, jittered backoff) per kind
// and namespace, parsing into the typed model. Only the configured namespaces (all when none) and
// per-kind label selectors are watched. A malformed object is reported and skipped; its last good
// version stays.
class KubeApiSource : public ObjectSource {
 public:
  struct Options {
    std::vector<std::string> namespaces;                // empty: every namespace
    std::array<std::string, kObjectKinds> label_selectors;  // by ObjectKind
    kube::Reflector::Options reflector;                 // ns/label_selector are set per reflector
  };

  KubeApiSource(kube::KubeClient& client, Options options, Logger log);
  ~KubeApiSource() override;

  // ObjectSource
  void start(ObjectSink& sink) override;
  void stop() override;
  bool synced() const override;
  std::string describe() const override;

  // Relists and watch restarts so far (for tests and logs).
  uint64_t relists() const;

  static const kube::ResourceType& resource_of(ObjectKind kind);

 private:
  class Feed;
  kube::KubeClient& client_;
  const Options options_;
  Logger log_;
  std::vector<std::unique_ptr<Feed>> feeds_;
};

}  // namespace lockstep::rollout
