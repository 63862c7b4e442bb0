#include "demo/argo_controller.h"

#include <nlohmann/json.hpp>

#include <thread>

#include "common/fnv.h"
#include "demo/controller_math.h"
#include "demo/http_get.h"
#include "rollout/model/split_annotation.h"

namespace lockstep::demo {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string template_hash(const std::string& version) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  uint64_t h = fnv1a(version);
  std::string out;
  for (int i = 0; i < 10; ++i) {
    out += kAlphabet[h % (sizeof(kAlphabet) - 1)];
    h /= sizeof(kAlphabet) - 1;
  }
  return out;
}

ArgoController::ArgoController(Options options, ManifestStore& store, PodFleet& fleet, Journal& journal)
    : options_(std::move(options)), store_(store), fleet_(fleet), journal_(journal) {
  stable_hash_ = current_hash_ = template_hash(options_.stable_version);
  version_[stable_hash_] = options_.stable_version;
}

void ArgoController::start() {
  store_.write_split_annotation(std::nullopt);
  publish();
}

int32_t ArgoController::spec_replicas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spec_replicas_;
}

int32_t ArgoController::status_replicas() const {
  int32_t n = 0;
  for (const auto& p : fleet_.pods()) n += p.phase != PodPhase::kTerminating ? 1 : 0;
  return n;
}

void ArgoController::set_spec_replicas(int32_t replicas) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    spec_replicas_ = replicas;
  }
  publish();
}

void ArgoController::on_pods_changed() { publish(); }

void ArgoController::set_step(int32_t step, const std::string& text) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    step_index_ = step;
    step_text_ = text;
  }
  publish();
}

void ArgoController::set_step_text(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  step_text_ = text;
}

void ArgoController::publish() {
  std::lock_guard<std::mutex> order(publish_mu_);
  CanaryScaleInput in;
  std::string stable_hash, current_hash;
  std::map<std::string, std::string> versions;
  RolloutStatusView status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in.replicas = spec_replicas_;
    in.max_weight = options_.rollout.max_weight;
    in.in_canary = stable_hash_ != current_hash_;
    in.aborted = aborted_;
    in.dynamic_stable_scale = options_.rollout.dynamic_stable_scale;
    in.desired_weight = desired_weight_;
    in.status_canary_weight = status_canary_weight_;
    in.status_stable_weight = options_.rollout.max_weight - status_canary_weight_;
    stable_hash = stable_hash_;
    current_hash = current_hash_;
    versions = version_;
    status.spec_replicas = spec_replicas_;
    status.stable_rs = stable_hash_;
    status.current_pod_hash = current_hash_;
    status.abort = aborted_;
    status.current_step_index = step_index_;
    status.weights_present = weights_present_;
    status.canary_weight = status_canary_weight_;
    status.stable_weight = options_.rollout.max_weight - status_canary_weight_;
  }
  const CanaryScale scale = argo_canary_scale(in);
  for (const auto& [hash, version] : versions) {
    int32_t n = 0;
    if (hash == stable_hash) n = scale.stable;
    if (hash == current_hash && in.in_canary) n = scale.canary;
    fleet_.set_desired(hash, version, n);
  }

  std::vector<EndpointView> endpoints;
  std::string endpoints_key;
  int32_t existing = 0;
  for (const auto& p : fleet_.pods()) {
    existing += p.phase != PodPhase::kTerminating ? 1 : 0;
    if (p.port == 0) continue;  // not listening yet: no endpoint address to publish
    const bool ready = p.phase == PodPhase::kReady;
    const bool terminating = p.phase == PodPhase::kTerminating;
    auto add = [&](const std::string& service) {
      endpoints.push_back({service, p.name, p.port, ready, terminating});
      endpoints_key += service + "/" + p.name + ":" + std::to_string(p.port) + (ready ? "R" : "-") +
                       (terminating ? "T" : "-") + ";";
    };
    if (p.hash == stable_hash) add(options_.rollout.stable_service);
    if (p.hash == current_hash) add(options_.rollout.canary_service);
  }
  status.hpa_replicas = existing;
  const std::string rollout_key =
      std::to_string(status.spec_replicas) + "/" + std::to_string(status.hpa_replicas) + "/" +
      status.stable_rs + "/" + status.current_pod_hash + "/" + std::to_string(status.abort) + "/" +
      std::to_string(status.current_step_index.value_or(-1)) + "/" + std::to_string(status.weights_present) +
      "/" + std::to_string(status.canary_weight);
  bool write_endpoints = false, write_rollout = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (endpoints_key != last_endpoints_ || last_endpoints_.empty()) {
      last_endpoints_ = endpoints_key.empty() ? "none" : endpoints_key;
      write_endpoints = true;
    }
    if (rollout_key != last_rollout_) {
      last_rollout_ = rollout_key;
      write_rollout = true;
    }
  }
  if (write_endpoints) store_.write_endpoints(endpoints);
  if (write_rollout) store_.write_rollout(status);
}

bool ArgoController::wait_ready(const std::string& hash) {
  if (fleet_.wait_settled(hash, options_.ready_timeout)) return true;
  journal_.add("Argo", "ReplicaSet " + hash + " not fully ready after " +
                           std::to_string(options_.ready_timeout.count()) + " ms; going on");
  return false;
}

ArgoController::WeightChange ArgoController::write_and_verify(int32_t weight) {
  WeightChange change;
  change.weight = weight;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = ++generation_;
  }
  if (weight == 0) {
    store_.write_split_annotation(std::nullopt);  // the plugin removes the annotation
  } else {
    rollout::Split split;
    split.generation = generation;
    split.rollout = options_.rollout.name;
    split.stable_service = options_.rollout.stable_service;
    split.canary_service = options_.rollout.canary_service;
    split.canary_weight = weight;
    split.max_weight = options_.rollout.max_weight;
    const std::string invalid = rollout::validate_split(split);
    if (!invalid.empty()) {
      change.error = "split: " + invalid;
      return change;
    }
    store_.write_split_annotation(rollout::serialize_split_annotation(split));
  }
  change.written = SteadyClock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    traffic_weight_ = weight;
  }
  // VerifyWeight, as the plugin does it: the scaler's split status until `applied`.
  const std::string target = "/v1/routes/" + options_.rollout.ns + "/" + options_.scaled_object;
  const auto deadline = change.written + options_.verify_timeout;
  std::string last;
  while (SteadyClock::now() < deadline) {
    const HttpGetResult r = http_get(options_.scaler_admin_port, target, 1s);
    if (r.status == 200) {
      const auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.value("applied", false)) {
        const auto desired = j.contains("desired") ? j["desired"] : nlohmann::json();
        bool match = false;
        if (weight == 0) {
          match = desired.is_null();
          for (const auto& b : j.value("backends", nlohmann::json::array())) {
            if (b.value("role", "") == "canary" && b.value("weight", 0) != 0) match = false;
          }
        } else {
          match = desired.is_object() && desired.value("generation", uint64_t{0}) == generation &&
                  desired.value("canaryWeight", -1) == weight;
        }
        if (match) {
          change.ok = true;
          change.verified = SteadyClock::now();
          return change;
        }
      }
      last = r.body.substr(0, 300);
    } else {
      last = std::to_string(r.status) + " " + r.error + " " + r.body.substr(0, 200);
    }
    std::this_thread::sleep_for(10ms);  // VerifyWeight is a poll (Argo re-runs it on reconcile)
  }
  change.error = "not verified within " + std::to_string(options_.verify_timeout.count()) + " ms: " + last;
  return change;
}

void ArgoController::begin_canary(const std::string& version) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_hash_ = template_hash(version);
    version_[current_hash_] = version;
    aborted_ = false;
    desired_weight_ = 0;
    status_canary_weight_ = 0;
    weights_present_ = true;
    step_index_ = 0;
    step_text_ = "new revision " + version;
  }
  journal_.add("Argo", "new revision " + version + " (pod-template-hash " + template_hash(version) +
                           "): canary steps start");
  publish();
}

ArgoController::WeightChange ArgoController::set_weight(int32_t weight, int32_t step) {
  std::string hash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    desired_weight_ = weight;
    step_index_ = step;
    step_text_ = "setWeight " + std::to_string(weight) + ": scaling canary";
    hash = current_hash_;
  }
  publish();
  wait_ready(hash);
  set_step_text("setWeight " + std::to_string(weight) + ": SetWeight/VerifyWeight");
  WeightChange change = write_and_verify(weight);
  if (change.ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_canary_weight_ = weight;
      step_text_ = "setWeight " + std::to_string(weight) + " verified";
    }
    publish();
    journal_.add("Argo", "setWeight " + std::to_string(weight) + ": verified, every proxy applies it (" +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                change.verified - change.written)
                                                .count()) +
                             " ms after the annotation was written)");
  } else {
    journal_.add("Argo", "setWeight " + std::to_string(weight) + ": " + change.error);
  }
  return change;
}

ArgoController::WeightChange ArgoController::abort() {
  std::string stable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
    desired_weight_ = 0;
    step_text_ = "aborting: scaling stable back up";
    stable = stable_hash_;
  }
  journal_.add("Argo", "abort: traffic goes back to the stable version");
  publish();
  wait_ready(stable);
  set_step_text("aborting: SetWeight 0");
  WeightChange change = write_and_verify(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_canary_weight_ = 0;
    step_text_ = change.ok ? "aborted" : "abort not verified";
  }
  publish();
  journal_.add("Argo", change.ok ? "abort verified: 100% stable, canary scaled down" : "abort: " + change.error);
  return change;
}

void ArgoController::retry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = false;
    desired_weight_ = 0;
    status_canary_weight_ = 0;
    step_index_ = 0;
    step_text_ = "retry";
  }
  journal_.add("Argo", "retry: the canary steps start again");
  publish();
}

ArgoController::WeightChange ArgoController::promote() {
  std::string canary;
  const int32_t max = options_.rollout.max_weight;
  {
    std::lock_guard<std::mutex> lock(mu_);
    desired_weight_ = max;
    step_index_ = static_cast<int32_t>(options_.rollout.steps.size());  // past the last step
    step_text_ = "promoting: full canary";
    canary = current_hash_;
  }
  publish();
  wait_ready(canary);
  WeightChange full = write_and_verify(max);
  if (!full.ok) {
    journal_.add("Argo", "promotion: " + full.error);
    return full;
  }
  std::string old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_canary_weight_ = max;
    old = stable_hash_;
    // The stable Service now selects the new pods; the old ReplicaSet goes away.
    stable_hash_ = current_hash_;
    desired_weight_ = 0;
    status_canary_weight_ = 0;
    weights_present_ = false;
    step_text_ = "promoting: stableRS switched";
  }
  publish();
  WeightChange change = write_and_verify(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    step_text_ = change.ok ? "promoted " + version_[stable_hash_] : "promotion not verified";
  }
  journal_.add("Argo", change.ok ? "promoted: " + version_[stable_hash_] + " is the stable version" : "promotion: " + change.error);
  publish();
  return change;
}

ArgoController::View ArgoController::view() const {
  View v;
  std::string stable, current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stable = stable_hash_;
    current = current_hash_;
    v.stable_version = version_.at(stable_hash_);
    if (current_hash_ != stable_hash_) v.canary_version = version_.at(current_hash_);
    v.spec_replicas = spec_replicas_;
    v.canary_weight = traffic_weight_;
    v.aborted = aborted_;
    v.step = step_text_;
  }
  v.stable_rs = fleet_.desired(stable);
  v.canary_rs = current != stable ? fleet_.desired(current) : 0;
  for (const auto& p : fleet_.pods()) {
    if (p.phase == PodPhase::kStarting) ++v.starting;
    if (p.phase != PodPhase::kReady) continue;
    if (p.hash == stable) ++v.stable_ready;
    if (p.hash == current && current != stable) ++v.canary_ready;
  }
  return v;
}

}  // namespace lockstep::demo
