#pragma once

// A faithful in-memory Kubernetes API server for tests, modelled on client-go's ObjectTracker but
// reached over the real protocol: HTTPS (a CA generated at test time), bearer tokens or client
// certificates, discovery (/api, /apis, /version), GET / LIST (label and field selectors, limit +
// continue) / WATCH (chunked newline-delimited JSON events, resourceVersion resume, bookmarks,
// 410 Gone for a compacted version, timeoutSeconds) / POST / PUT (resourceVersion conflicts) /
// PATCH (merge, JSON and, for built-in types, strategic patches treated as merge) / DELETE.
// kubectl talks to it (see test/integration/rollout/fake_api_kubectl_test.cc).
//
// Faults are injected from the test thread: restart(), compact(), set_tokens(), fail_next(),
// send_bookmarks(), end_watches(). Every wait_for_* takes a timeout and must be checked.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rollout/kube/kube_config.h"
#include "test/support/kube/test_pki.h"

namespace lockstep::testing {

struct FakeResource {
  std::string group;  // "" = core
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;
  bool builtin = false;  // list items omit apiVersion/kind, as the real server does for them
  std::vector<std::string> short_names;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
};

class FakeApiServer {
 public:
  struct Options {
    std::vector<std::string> tokens = {"test-token"};  // accepted bearer tokens
    bool accept_client_certs = true;  // a client certificate from pki() authenticates
    size_t history_limit = 100000;    // watch events kept for resuming from a version
    // A watch from a compacted version gets HTTP 410 instead of 200 + an ERROR event.
    bool gone_as_http_status = false;
    // Periodic bookmarks to watches that allow them (0 = only on send_bookmarks()).
    std::chrono::milliseconds bookmark_interval{0};
  };

  FakeApiServer();  // default Options
  explicit FakeApiServer(Options options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  uint16_t port() const;
  std::string url() const;  // https://127.0.0.1:<port>
  const TestPki& pki() const;
  // A client configuration trusting the test CA, with `token` (or none when empty).
  kube::KubeConfig client_config(const std::string& token = "test-token") const;

  // Registers a resource type (ScaledObjects, Rollouts, Services, EndpointSlices, Namespaces,
  // Pods and ConfigMaps are registered already).
  void add_resource(FakeResource resource);

  // Direct store access, as the server's own storage (no auth, no HTTP); events go to watches.
  // Objects need apiVersion, kind, metadata.name (and metadata.namespace if namespaced).
  // Returns the stored object (with resourceVersion, uid, generation) or throws on bad input.
  nlohmann::json upsert(nlohmann::json object);
  bool remove(const std::string& api_version, const std::string& kind, const std::string& ns,
              const std::string& name);
  std::optional<nlohmann::json> get(const std::string& api_version, const std::string& kind,
                                    const std::string& ns, const std::string& name) const;
  uint64_t resource_version() const;

  // Faults.
  // Closes the listener and every connection (open watches break without a final chunk), then
  // listens again on the same port. The store survives; with `keep_history` false (the default,
  // like a real server whose watch cache starts afresh) older versions answer 410.
  void restart(bool keep_history = false);
  // Forgets the watch history: a watch from any version before now gets 410.
  void compact();
  // Replaces the accepted bearer tokens (token rotation: the old ones now get 401).
  void set_tokens(std::vector<std::string> tokens);
  // The next `count` resource requests (not discovery) get `status` with a Status body.
  void fail_next(int count, int status);
  // Sends a BOOKMARK with the current resourceVersion to every watch that allows them.
  void send_bookmarks();
  // Ends every open watch normally (final chunk), as timeoutSeconds would.
  void end_watches();
  // Sends ERROR 410 to every open watch and ends it (as a watch cache that fell behind).
  void expire_watches();

  // Observation.
  struct Request {
    std::string method;
    std::string path;
    std::string query;
    std::string authorization;
    std::string content_type;
    std::string body;
    int status = 0;
  };
  std::vector<Request> requests() const;
  size_t open_watches() const;
  [[nodiscard]] bool wait_for_watches(size_t at_least, std::chrono::milliseconds timeout) const;
  // Waits until some recorded request satisfies `pred`.
  [[nodiscard]] bool wait_for_request(const std::function<bool(const Request&)>& pred,
                                      std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::testing
