#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/log.h"
#include "lockstep/v1/routes.grpc.pb.h"

namespace lockstep::rollout {

class RolloutMetrics;

// lockstep.v1.Routes/Subscribe on the callback API: every subscriber gets the current table at
// once and every later version; a subscriber still writing when newer versions arrive gets only
// the newest (coalesced), so a slow proxy never holds up the others or the authority. Reactions
// never block: publish() swaps a pointer under a per-stream mutex and starts a write outside it.
// Tables are written as the serialized bytes the authority made once (the raw method): every
// subscriber's write shares them, no per-proxy serialization. shutdown() ends every stream with OK.
class RouteService final
    : public v1::Routes::WithRawCallbackMethod_Subscribe<v1::Routes::Service> {
 public:
  RouteService(Logger log, RolloutMetrics* metrics = nullptr);
  ~RouteService() override;

  // Sends `wire` (a serialized lockstep.v1.RouteTable) to every subscriber (and to later ones
  // on open). Thread-safe; the bytes are shared, not copied, until every write is done.
  void publish(std::shared_ptr<const std::string> wire);
  // The same for a table message (serialized deterministically here).
  void publish(const v1::RouteTable& table);
  // Ends every open stream with OK and refuses new ones (UNAVAILABLE). Idempotent.
  void shutdown();
  size_t subscribers() const;
  // Waits (bounded) until every stream has finished, after shutdown().
  bool wait_idle(std::chrono::milliseconds timeout) const;

  using v1::Routes::WithRawCallbackMethod_Subscribe<v1::Routes::Service>::Subscribe;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;

 private:
  class Subscription;
  friend class Subscription;
  void done(Subscription* s);

  Logger log_;
  RolloutMetrics* metrics_;
  mutable std::mutex mu_;
  mutable std::condition_variable idle_cv_;
  std::set<Subscription*> subscriptions_;        // guarded by mu_
  std::optional<grpc::Slice> table_;             // guarded by mu_
  bool shutting_down_ = false;                   // guarded by mu_
};

}  // namespace lockstep::rollout
