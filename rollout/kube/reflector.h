#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rollout/kube/kube_client.h"

namespace lockstep::kube {

// Keeps a consumer in step with one resource type in one namespace (or all): list, then watch
// from the list's resourceVersion with bookmarks; a watch that ends normally is reopened from the
// last version seen, `410 Gone` relists, any other failure backs off exponentially with jitter and
// retries. The model is client-go's reflector. One thread per Reflector; the destructor stops it.
class Reflector {
 public:
  struct Options {
    std::string ns;              // "" = all namespaces
    std::string label_selector;  // query syntax; validated by the server
    std::chrono::seconds watch_timeout{300};
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{30000};
    double jitter = 0.5;  // every delay is stretched by a random factor in [1, 1 + jitter]
    uint32_t page_size = 500;
    uint64_t seed = 0;  // for the jitter; 0 = from std::random_device
  };

  // Called on the reflector's thread, one call at a time, in order.
  class Handler {
   public:
    virtual ~Handler() = default;
    // The complete current state after a (re)list: anything not in `items` no longer exists.
    virtual void on_list(std::vector<nlohmann::json>&& items,
                         const std::string& resource_version) = 0;
    // ADDED, MODIFIED or DELETED (bookmarks only move the resume point and are not delivered).
    virtual void on_event(WatchEvent&& event) = 0;
    // A failed list or watch, before the backoff; `gone` for a 410 that forces a relist.
    virtual void on_error(std::string_view error, bool gone) {
      (void)error;
      (void)gone;
    }
  };

  Reflector(KubeClient& client, const ResourceType& type, Options options, Handler& handler);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  // Ends the list or watch in progress and joins the thread. Idempotent.
  void stop();

  // True once a complete list has been delivered (stays true across relists).
  bool has_synced() const { return synced_.load(std::memory_order_acquire); }
  // Counters for tests and metrics (relaxed: monotonic, read for reporting only).
  uint64_t lists() const { return lists_.load(std::memory_order_relaxed); }
  uint64_t watches() const { return watches_.load(std::memory_order_relaxed); }
  uint64_t gone() const { return gone_.load(std::memory_order_relaxed); }
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  const ResourceType& type() const { return type_; }
  const Options& options() const { return options_; }

 private:
  void run();
  // Sleeps for the next backoff delay (or until stop); false when stopping.
  bool back_off();

  KubeClient& client_;
  const ResourceType type_;
  const Options options_;
  Handler& handler_;
  Cancellation cancel_;
  std::mt19937_64 rng_;  // used on the reflector thread only
  std::chrono::milliseconds next_delay_;  // reflector thread only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_

  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> watches_{0};
  std::atomic<uint64_t> gone_{0};
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace lockstep::kube
