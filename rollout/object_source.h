#pragma once

// The Kubernetes seam: a source of typed objects (list + watch). Two implementations:
// KubeApiSource (the API server) and ManifestSource (YAML files); tests add their own.

#include <string>
#include <string_view>
#include <vector>

#include "rollout/model/objects.h"

namespace lockstep::rollout {

// Receives what a source lists and watches. Called from the source's threads; implementations
// are thread-safe.
class ObjectSink {
 public:
  virtual ~ObjectSink() = default;
  // The complete current set of `kind` objects in namespace `scope` ("" = every namespace) as
  // this source sees it: anything of that kind and scope not listed is gone, except the keys in
  // `keep` (objects present but malformed right now, whose last good version stays).
  virtual void replace(ObjectKind kind, const std::string& scope, std::vector<AnyObject> objects,
                       const std::vector<ObjectKey>& keep) = 0;
  virtual void upsert(AnyObject object) = 0;
  virtual void remove(ObjectKind kind, const ObjectKey& key) = 0;
  // A malformed object was skipped (its last good version, if any, stays).
  virtual void invalid(const ObjectError& error) = 0;
  // One watch event was received (for metrics): type is ADDED/MODIFIED/DELETED/RELIST.
  virtual void watch_event(ObjectKind kind, std::string_view type) = 0;
};

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // Starts delivering to `sink` (which must outlive the source) on the source's own threads.
  virtual void start(ObjectSink& sink) = 0;
  // Stops and joins. Idempotent; the destructor calls it.
  virtual void stop() = 0;
  // True once every kind the source covers has been listed completely at least once.
  virtual bool synced() const = 0;
  // For logs and the admin endpoint: "kubernetes https://10.96.0.1:443" / "manifests a.yaml,b/".
  virtual std::string describe() const = 0;
};

}  // namespace lockstep::rollout
