#include "demo/pod_fleet.h"

#include <signal.h>

#include <algorithm>
#include <filesystem>

#include "demo/http_get.h"

namespace lockstep::demo {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

PodFleet::PodFleet(Options options, Listener listener)
    : options_(std::move(options)), listener_(std::move(listener)) {}

PodFleet::~PodFleet() { stop(); }

void PodFleet::start() {
  std::filesystem::create_directories(options_.log_dir);
  // The pods are forked from this thread, which lives as long as they do (PR_SET_PDEATHSIG).
  thread_ = std::thread([this] { loop(); });
}

void PodFleet::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PodFleet::set_desired(const std::string& hash, const std::string& version, int32_t replicas) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& rs = sets_[hash];
    if (rs.version == version && rs.replicas == replicas) return;
    rs.version = version;
    rs.replicas = std::max(0, replicas);
    wake_ = true;
  }
  cv_.notify_all();
}

int32_t PodFleet::desired(const std::string& hash) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sets_.find(hash);
  return it == sets_.end() ? 0 : it->second.replicas;
}

std::vector<PodView> PodFleet::pods() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PodView> out;
  for (const auto& p : pods_) out.push_back(p.view);
  return out;
}

int32_t PodFleet::ready(const std::string& hash) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int32_t>(std::count_if(pods_.begin(), pods_.end(), [&](const Pod& p) {
    return p.view.hash == hash && p.view.phase == PodPhase::kReady;
  }));
}

int32_t PodFleet::existing(const std::string& hash) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int32_t>(std::count_if(pods_.begin(), pods_.end(), [&](const Pod& p) {
    return p.view.hash == hash && p.view.phase != PodPhase::kTerminating;
  }));
}

bool PodFleet::wait_settled(const std::string& hash, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    if (stopping_) return true;
    auto it = sets_.find(hash);
    const int32_t want = it == sets_.end() ? 0 : it->second.replicas;
    int32_t ready = 0, starting = 0;
    for (const auto& p : pods_) {
      if (p.view.hash != hash) continue;
      ready += p.view.phase == PodPhase::kReady ? 1 : 0;
      starting += p.view.phase == PodPhase::kStarting ? 1 : 0;
    }
    return ready == want && starting == 0;
  });
}

uint64_t PodFleet::pods_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

uint64_t PodFleet::pods_failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

std::string PodFleet::pod_name(const std::string& hash) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";  // Kubernetes' suffix alphabet
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix += kAlphabet[pick(rng_)];
  return options_.app + "-" + hash + "-" + suffix;
}

bool PodFleet::reconcile_locked(SteadyClock::time_point now) {
  bool changed = false;
  // Exits: a terminating pod is gone; any other pod failed and is replaced below.
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (!it->process->running()) {
      if (it->view.phase != PodPhase::kTerminating) ++failed_;
      it = pods_.erase(it);
      changed = true;
      continue;
    }
    ++it;
  }
  for (auto& p : pods_) {
    if (p.view.phase == PodPhase::kStarting) {
      if (p.view.port == 0) {
        while (auto line = p.process->read_stdout_line()) {
          unsigned port = 0;
          if (std::sscanf(line->c_str(), "listening %u", &port) == 1 && port > 0 && port < 65536) {
            p.view.port = static_cast<uint16_t>(port);
            p.next_probe = now;
          }
        }
      }
      if (now - p.started > options_.boot_timeout) {
        p.process->signal(SIGKILL);
        p.view.phase = PodPhase::kTerminating;
        p.kill_at = now;
        ++failed_;
        changed = true;
      }
    } else if (p.view.phase == PodPhase::kTerminating && now >= p.kill_at) {
      // SIGTERM once, SIGKILL if it is still there 3 s later.
      p.process->signal(p.term_sent ? SIGKILL : SIGTERM);
      p.term_sent = true;
      p.kill_at = now + 3s;
    }
  }
  // ReplicaSets: add or remove pods to match.
  for (const auto& [hash, rs] : sets_) {
    std::vector<Pod*> alive;
    for (auto& p : pods_) {
      if (p.view.hash == hash && p.view.phase != PodPhase::kTerminating) alive.push_back(&p);
    }
    for (auto n = static_cast<int32_t>(alive.size()); n < rs.replicas; ++n) {
      Pod pod;
      pod.view.name = pod_name(hash);
      pod.view.hash = hash;
      pod.view.version = rs.version;
      pod.process = std::make_unique<ChildProcess>();
      ChildProcess::Options o;
      o.program = options_.backend_program;
      o.args = {"--version=" + rs.version, "--pod=" + pod.view.name,
                "--start-delay=" + std::to_string(options_.start_delay.count()) + "ms"};
      o.log_file = options_.log_dir + "/" + pod.view.name + ".log";
      o.pipe_stdout = true;
      std::string error;
      if (!pod.process->start(o, &error)) {
        ++failed_;
        break;  // retried on the next pass
      }
      pod.started = now;
      ++started_;
      pods_.push_back(std::move(pod));
      changed = true;
    }
    if (static_cast<int32_t>(alive.size()) > rs.replicas) {
      // Like a ReplicaSet: not-ready pods go first, then the youngest ready ones.
      std::stable_sort(alive.begin(), alive.end(), [](const Pod* a, const Pod* b) {
        if ((a->view.phase == PodPhase::kReady) != (b->view.phase == PodPhase::kReady)) {
          return a->view.phase != PodPhase::kReady;
        }
        return a->started > b->started;
      });
      for (size_t i = 0; i < alive.size() - static_cast<size_t>(rs.replicas); ++i) {
        Pod* p = alive[i];
        const bool was_ready = p->view.phase == PodPhase::kReady;
        p->view.phase = PodPhase::kTerminating;
        p->kill_at = was_ready ? now + options_.drain_delay : now;
        changed = true;
      }
    }
  }
  return changed;
}

void PodFleet::loop() {
  while (true) {
    bool changed = false;
    std::vector<std::pair<std::string, uint16_t>> probes;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) break;
      const auto now = SteadyClock::now();
      changed = reconcile_locked(now);
      for (auto& p : pods_) {
        if (p.view.phase == PodPhase::kStarting && p.view.port != 0 && now >= p.next_probe) {
          probes.emplace_back(p.view.name, p.view.port);
          p.next_probe = now + options_.probe_period;
        }
      }
    }
    // Readiness probes run without the lock (each is a loopback round trip).
    std::vector<std::string> passed;
    for (const auto& [name, port] : probes) {
      if (http_get(port, "/healthz", 250ms).ok()) passed.push_back(name);
    }
    if (!passed.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& p : pods_) {
        if (p.view.phase == PodPhase::kStarting &&
            std::find(passed.begin(), passed.end(), p.view.name) != passed.end()) {
          p.view.phase = PodPhase::kReady;
          changed = true;
        }
      }
    }
    if (changed) {
      cv_.notify_all();
      if (listener_) listener_();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, 10ms, [this] { return stopping_ || wake_; });
    wake_ = false;
  }
  // Stop every pod: SIGTERM all, then wait for them together.
  std::vector<std::unique_ptr<ChildProcess>> processes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : pods_) processes.push_back(std::move(p.process));
    pods_.clear();
  }
  for (auto& p : processes) p->signal(SIGTERM);
  for (auto& p : processes) p->terminate(3s);
  cv_.notify_all();
  if (listener_) listener_();
}

}  // namespace lockstep::demo
