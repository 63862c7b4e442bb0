#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "rollout/object_source.h"

namespace lockstep::rollout {

// What one manifest text holds: the objects lockstep reads, the malformed ones (skipped), and a
// YAML error that makes the whole text unusable.
struct ManifestContents {
  std::vector<AnyObject> objects;
  std::vector<ObjectError> errors;   // per object; `keys` of these are in `invalid_keys`
  std::vector<std::pair<ObjectKind, ObjectKey>> invalid_keys;
  std::string yaml_error;            // non-empty: nothing in the text was used
  size_t ignored = 0;                // documents of other kinds (Deployments, ConfigMaps, ...)
};

// Parses multi-document YAML (or JSON) Kubernetes manifests; `kind: List` documents are
// expanded. Objects without a namespace get `default_namespace`.
ManifestContents parse_manifest(std::string_view text, std::string_view default_namespace);

// Standalone mode's source: Kubernetes manifests from files and folders (*.yaml, *.yml, *.json,
// folders searched recursively in name order), reloaded when a file changes (polled: mtime,
// size and inode, which also catches ConfigMap symlink swaps). A file that stops parsing keeps
// its last good objects, and the error is logged and kept for status; a malformed object is
// skipped (its last good version stays). An object defined in two files is taken from the first
// in path order, and the duplicate is reported.
class ManifestSource : public ObjectSource {
 public:
  struct Options {
    std::vector<std::string> paths;
    std::chrono::milliseconds reload_interval{2000};  // 0: load once, never poll
    std::string default_namespace = "default";
  };

  ManifestSource(Options options, Logger log);
  ~ManifestSource() override;

  // ObjectSource
  void start(ObjectSink& sink) override;
  void stop() override;
  bool synced() const override;
  std::string describe() const override;

  // Scans the paths and delivers the objects if anything changed (start() does it once, then
  // the poller). Returns true when something changed. Thread-safe.
  bool reload();
  // file -> its current error ("" when it loaded), for every file seen.
  std::map<std::string, std::string> file_status() const;

 private:
  struct FileState {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    uint64_t inode = 0;
    ManifestContents last_good;  // what the file contributes
    std::string error;           // current problem ("" when the last read worked)
  };
  std::vector<std::string> list_files(std::vector<std::string>& problems) const;
  void deliver_locked();
  void poll_loop();

  const Options options_;
  Logger log_;
  ObjectSink* sink_ = nullptr;

  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;  // guarded by mu_
  std::map<std::string, std::string> path_errors_;  // unreadable paths; guarded by mu_
  bool loaded_ = false;                     // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::condition_variable cv_;
  std::thread poller_;
};

}  // namespace lockstep::rollout
