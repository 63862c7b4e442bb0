#pragma once

// lockstep's Kubernetes API client: HTTPS (Boost.Beast + OpenSSL), JSON (nlohmann-json), GET /
// LIST (paged) / WATCH (chunked events, bookmarks, 410 Gone) / JSON merge-patch / create / replace
// / delete. No gRPC, no yaml-cpp, no prometheus: the Argo plugin links it into a fully static
// binary. Connect to an IP literal (in cluster: KUBERNETES_SERVICE_HOST) and no DNS lookup is made.
//
// Typical use:
//   std::string error;
//   kube::KubeConfig cfg;
//   if (!kube::in_cluster_config(cfg, error)) { ... }
//   auto client = kube::KubeClient::create(cfg, {}, error);
//   kube::KubeResponse r = client->merge_patch(kube::kScaledObjects, "shop", "recommender",
//       {{"metadata", {{"annotations", {{"lockstep.dev/split", text}}}}}});
//   if (!r.ok()) log(r.status, r.error);
//
// Every method is thread-safe and blocks the calling thread for at most the configured timeouts;
// a Cancellation ends a blocked call early from another thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rollout/kube/kube_config.h"
#include "rollout/kube/resource.h"

namespace lockstep::kube {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};  // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30000};  // one non-watch request, send to last byte
  // A watch that receives nothing for (its timeout + this slack) is treated as dead.
  std::chrono::milliseconds watch_idle_slack{30000};
  size_t max_response_bytes = size_t{256} << 20;
  size_t max_watch_event_bytes = size_t{16} << 20;
  size_t max_idle_connections = 4;  // kept-alive connections reused by later requests
  std::string user_agent = "lockstep/0.1";
};

// The outcome of one request.
struct KubeResponse {
  int status = 0;          // HTTP status; 0 when no response arrived (connect, TLS, timeout)
  std::string error;       // transport error, or the message of the server's Status object
  std::string reason;      // Status.reason ("NotFound", "Conflict", "Expired", ...) if any
  nlohmann::json body;     // the parsed JSON body (null if the body was empty or not JSON)
  bool ok() const { return status >= 200 && status < 300; }
};

// Ends a blocked call from another thread. A cancelled Cancellation stays cancelled: every later
// call given it returns at once (status 0, error "cancelled").
class Cancellation {
 public:
  void cancel();
  bool cancelled() const;

  // For KubeClient: registers how to abort the call in progress (false if already cancelled),
  // and forgets it when the call ends.
  bool attach(std::function<void()> abort);
  void detach();

 private:

  mutable std::mutex mu_;
  bool cancelled_ = false;        // guarded by mu_
  std::function<void()> abort_;   // guarded by mu_
};

struct ListOptions {
  std::string label_selector;  // query syntax, see LabelSelector
  std::string field_selector;
  uint32_t page_size = 500;    // `limit`; pages are joined (and restarted if a continue expires)
};

struct ListResult {
  KubeResponse response;                // status and error of the failing page, or the last one
  std::vector<nlohmann::json> items;    // each with apiVersion and kind filled in
  std::string resource_version;         // the list's resourceVersion: where a watch starts
  bool ok() const { return response.ok(); }
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type;
  nlohmann::json object;  // for bookmarks only metadata.resourceVersion is meaningful
};
std::string_view to_string(WatchEvent::Type type);

struct WatchOptions {
  std::string resource_version;  // "" = current state first (synthetic ADDED events), then changes
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{300};  // the server ends the watch after this (timeoutSeconds)
};

// Why a watch returned.
struct WatchEnd {
  enum class Reason {
    kClosed,     // the server ended the stream normally (timeoutSeconds): watch again
    kGone,       // 410 (HTTP or an ERROR event): the resourceVersion is too old, relist
    kCancelled,  // the Cancellation fired
    kFailed,     // transport error, non-200 answer or an ERROR event: back off and retry
  };
  Reason reason = Reason::kFailed;
  int status = 0;           // HTTP status, or the code of an ERROR event
  std::string error;
  uint64_t events = 0;      // events delivered (bookmarks included)
  std::string last_resource_version;  // of the last event delivered, "" if none
};

class KubeClient {
 public:
  // Builds the TLS context from `config`; nullptr with `error` on bad PEM data or options.
  static std::unique_ptr<KubeClient> create(KubeConfig config, ClientOptions options,
                                            std::string& error);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  enum class Verb { kGet, kPost, kPut, kPatch, kDelete };
  // Any request. `target` is path plus query ("/api/v1/namespaces/a/services?limit=5").
  KubeResponse request(Verb verb, const std::string& target, const std::string& body = {},
                       std::string_view content_type = {}, Cancellation* cancel = nullptr);

  KubeResponse get(const ResourceType& type, std::string_view ns, std::string_view name,
                   Cancellation* cancel = nullptr);
  // Lists `type` in `ns` ("" = all namespaces), following `continue` tokens.
  ListResult list(const ResourceType& type, std::string_view ns, const ListOptions& options = {},
                  Cancellation* cancel = nullptr);
  // RFC 7386 JSON merge patch (application/merge-patch+json): null deletes a key, objects merge.
  KubeResponse merge_patch(const ResourceType& type, std::string_view ns, std::string_view name,
                           const nlohmann::json& patch, Cancellation* cancel = nullptr);
  KubeResponse create_object(const ResourceType& type, std::string_view ns,
                             const nlohmann::json& object, Cancellation* cancel = nullptr);
  KubeResponse replace_object(const ResourceType& type, std::string_view ns,
                              std::string_view name, const nlohmann::json& object,
                              Cancellation* cancel = nullptr);
  KubeResponse delete_object(const ResourceType& type, std::string_view ns, std::string_view name,
                             Cancellation* cancel = nullptr);

  // Watches `type` in `ns` ("" = all namespaces) on a dedicated connection, calling `on_event`
  // on this thread for every ADDED / MODIFIED / DELETED / BOOKMARK event until the stream ends.
  WatchEnd watch(const ResourceType& type, std::string_view ns, const WatchOptions& options,
                 const std::function<void(WatchEvent&&)>& on_event,
                 Cancellation* cancel = nullptr);

  const KubeConfig& config() const;

  struct Impl;

 private:
  explicit KubeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep::kube
