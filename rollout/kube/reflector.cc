#include "rollout/kube/reflector.h"

#include <algorithm>

namespace lockstep::kube {

Reflector::Reflector(KubeClient& client, const ResourceType& type, Options options,
                     Handler& handler)
    : client_(client),
      type_(type),
      options_(std::move(options)),
      handler_(handler),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()),
      next_delay_(options_.backoff_initial) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Reflector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

bool Reflector::back_off() {
  std::uniform_real_distribution<double> factor(1.0, 1.0 + std::max(0.0, options_.jitter));
  const auto delay = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(next_delay_.count()) * factor(rng_)));
  next_delay_ = std::min(options_.backoff_max, next_delay_ * 2);
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void Reflector::run() {
  bool need_list = true;
  std::string resource_version;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (need_list) {
      ListOptions lo;
      lo.label_selector = options_.label_selector;
      lo.page_size = options_.page_size;
      ListResult listed = client_.list(type_, options_.ns, lo, &cancel_);
      if (cancel_.cancelled()) return;
      if (!listed.ok()) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        handler_.on_error("list " + type_.path(options_.ns) + ": " + listed.response.error,
                          false);
        if (!back_off()) return;
        continue;
      }
      lists_.fetch_add(1, std::memory_order_relaxed);
      resource_version = listed.resource_version;
      handler_.on_list(std::move(listed.items), resource_version);
      synced_.store(true, std::memory_order_release);
      need_list = false;
      next_delay_ = options_.backoff_initial;
    }
    WatchOptions wo;
    wo.resource_version = resource_version;
    wo.label_selector = options_.label_selector;
    wo.timeout = options_.watch_timeout;
    const auto started = std::chrono::steady_clock::now();
    watches_.fetch_add(1, std::memory_order_relaxed);
    WatchEnd end = client_.watch(
        type_, options_.ns, wo,
        [&](WatchEvent&& ev) {
          if (auto m = ev.object.find("metadata"); m != ev.object.end() && m->is_object()) {
            if (auto rv = m->find("resourceVersion"); rv != m->end() && rv->is_string()) {
              resource_version = rv->get<std::string>();
            }
          }
          if (ev.type != WatchEvent::Type::kBookmark) handler_.on_event(std::move(ev));
        },
        &cancel_);
    switch (end.reason) {
      case WatchEnd::Reason::kCancelled:
        return;
      case WatchEnd::Reason::kClosed:
        // A normal end (timeoutSeconds). Reopen at once, unless the server closes watches
        // instantly, which would otherwise spin.
        if (end.events > 0 || std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
          next_delay_ = options_.backoff_initial;
        } else if (!back_off()) {
          return;
        }
        break;
      case WatchEnd::Reason::kGone:
        gone_.fetch_add(1, std::memory_order_relaxed);
        handler_.on_error(end.error, true);
        need_list = true;  // relist at once, as client-go does
        break;
      case WatchEnd::Reason::kFailed:
        failures_.fetch_add(1, std::memory_order_relaxed);
        handler_.on_error(end.error, false);
        if (end.events > 0) next_delay_ = options_.backoff_initial;
        if (!back_off()) return;
        break;
    }
  }
}

}  // namespace lockstep::kube
