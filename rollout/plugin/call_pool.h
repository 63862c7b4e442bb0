#pragma once

// A fixed set of worker threads that run RPC calls, so a slow call (a Kubernetes request) never
// holds up the stream that carried it and several calls can be outstanding at once.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lockstep::plugin {

class CallPool {
 public:
  explicit CallPool(size_t workers);
  // Runs the queued tasks to completion, then joins the workers.
  ~CallPool();
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  void submit(std::function<void()> task);

 private:
  void work();

  std::mutex mu_;  // guards queue_ and stopping_
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace lockstep::plugin
