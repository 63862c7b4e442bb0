#include "scaler/trigger_catalogue.h"

namespace lockstep::scaler {

std::string_view backend_role_name(BackendRole r) {
  switch (r) {
    case BackendRole::kStable:
      return "stable";
    case BackendRole::kCanary:
      return "canary";
    case BackendRole::kOther:
      break;
  }
  return "other";
}

TriggerCatalogue::TriggerCatalogue(aggregator::Aggregator& aggregator) : aggregator_(aggregator) {}

TriggerCatalogue::~TriggerCatalogue() = default;

std::vector<ParseResult> TriggerCatalogue::upsert(const ScaledObjectTriggers& so) {
  std::vector<ParseResult> results;
  Known known;
  for (const auto& md : so.trigger_metadata) {
    ParseResult r = parse_trigger_metadata(so.route_namespace, so.route_name, md);
    if (r.spec) {
      known.specs.push_back(*r.spec);
      // A proxyFleet trigger has no route to pin (its fleet is held by the KEDA-facing cache).
      if (!r.spec->is_fleet()) {
        known.pins.push_back(aggregator_.pin_route(r.spec->route_key, r.spec->shape()));
      }
    }
    results.push_back(std::move(r));
  }
  Known old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = objects_[so.route_namespace + "/" + so.route_name];
    old = std::move(slot);
    slot = std::move(known);
  }
  // `old` (and its pins) goes here, outside the lock.
  changed();
  return results;
}

void TriggerCatalogue::remove(const std::string& ns, const std::string& name) {
  Known old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(ns + "/" + name);
    if (it == objects_.end()) return;
    old = std::move(it->second);
    objects_.erase(it);
  }
  changed();
}

void TriggerCatalogue::set_backends(const std::string& route_key,
                                    std::vector<BackendInfo> backends) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& m = roles_[route_key];
    m.clear();
    for (auto& b : backends) m[b.service] = b.role;
  }
  changed();
}

void TriggerCatalogue::remove_backends(const std::string& route_key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    roles_.erase(route_key);
  }
  changed();
}

BackendRole TriggerCatalogue::role(const std::string& route_key, const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = roles_.find(route_key);
  if (it == roles_.end()) return BackendRole::kOther;
  auto b = it->second.find(backend);
  return b == it->second.end() ? BackendRole::kOther : b->second;
}

std::vector<TriggerSpec> TriggerCatalogue::triggers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TriggerSpec> out;
  for (const auto& [k, known] : objects_) {
    for (const auto& spec : known.specs) {
      if (!spec.is_fleet()) out.push_back(spec);
    }
  }
  return out;
}

void TriggerCatalogue::on_change(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_.push_back(std::move(callback));
}

void TriggerCatalogue::changed() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    callbacks = callbacks_;
  }
  for (auto& cb : callbacks) cb();
}

}  // namespace lockstep::scaler
