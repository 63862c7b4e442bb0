#include "rollout/route_authority.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "rollout/rollout_metrics.h"

namespace lockstep::rollout {
namespace {

scaler::BackendRole to_role(v1::Role r) {
  switch (r) {
    case v1::ROLE_STABLE:
      return scaler::BackendRole::kStable;
    case v1::ROLE_CANARY:
      return scaler::BackendRole::kCanary;
    default:
      return scaler::BackendRole::kOther;
  }
}

bool same_backends(const std::vector<scaler::BackendInfo>& a,
                   const std::vector<scaler::BackendInfo>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].service != b[i].service || a[i].role != b[i].role) return false;
  }
  return true;
}

}  // namespace

RouteAuthority::RouteAuthority(ClusterState& state, scaler::TriggerCatalogue* catalogue,
                               RolloutMetrics* metrics, Options options, Logger log)
    : state_(state),
      catalogue_(catalogue),
      metrics_(metrics),
      options_(std::move(options)),
      log_(std::move(log)) {
  snapshot_ = make_snapshot({}, 0);
  state_.on_change([this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_ = true;
    }
    cv_.notify_one();
  });
}

RouteAuthority::~RouteAuthority() {
  stop();
  state_.on_change(nullptr);
}

void RouteAuthority::add_listener(Listener listener) {
  std::shared_ptr<const RouteTableSnapshot> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.push_back(listener);
    if (synced_) table = snapshot_;
  }
  if (table) listener(table);
}

void RouteAuthority::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void RouteAuthority::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RouteAuthority::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Until synced, look every 100 ms whether the sources have finished their first lists.
    const auto wait = synced_ ? std::chrono::milliseconds(3'600'000) : std::chrono::milliseconds(100);
    cv_.wait_for(lock, wait, [this] { return dirty_ || stopping_; });
    if (stopping_) return;
    const bool due = dirty_ || (!synced_ && (!sources_synced_ || sources_synced_()));
    if (!due) continue;
    lock.unlock();
    rebuild();
    lock.lock();
  }
}

bool RouteAuthority::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

uint64_t RouteAuthority::builds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return builds_;
}

size_t RouteAuthority::last_resolved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_resolved_;
}

std::shared_ptr<const RouteTableSnapshot> RouteAuthority::table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_ ? snapshot_ : nullptr;
}

std::optional<RolloutContext> RouteAuthority::rollout_context(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = published_.find(key);
  if (it == published_.end() || !it->second.resolved->route) return std::nullopt;
  return it->second.resolved->info.rollout;
}

std::vector<std::string> RouteAuthority::route_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(published_.size());
  for (const auto& [key, _] : published_) out.push_back(key);
  return out;
}

bool RouteAuthority::route(const std::string& key, RouteView& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = published_.find(key);
  if (it == published_.end()) return false;
  out.info = it->second.resolved->info;
  out.table = snapshot_;
  out.route = it->second.resolved->route;
  return true;
}

AppliedStatus RouteAuthority::applied(const std::string& key,
                                      const std::vector<aggregator::ProxyStatus>& proxies) const {
  AppliedStatus out;
  out.connected = proxies.size();
  std::lock_guard<std::mutex> lock(mu_);
  auto route = published_.find(key);
  const bool routed = route != published_.end() && route->second.resolved->route;
  for (const auto& p : proxies) {
    AppliedStatus::Pending pending{p.proxy_id, p.boot_epoch, p.route_table_version, {}};
    if (!routed) {
      pending.reason = "the route is not in this replica's table";
    } else if (p.route_table_version == 0) {
      pending.reason = "no route table yet";
    } else {
      // The newest build with that version: the same version is the same content.
      auto h = std::find_if(history_.rbegin(), history_.rend(),
                            [&](const auto& e) { return e.first == p.route_table_version; });
      if (h == history_.rend()) {
        pending.reason = "unknown table version";
      } else if (h->second < route->second.split_since) {
        pending.reason = "applies an older split";
      }
    }
    if (pending.reason.empty()) {
      ++out.applied;
    } else {
      out.pending.push_back(std::move(pending));
    }
  }
  return out;
}

void RouteAuthority::sync_triggers(const ObjectKey& key, const ScaledObject* so) {
  auto known = trigger_metadata_.find(key);
  size_t owned = 0;
  if (so) {
    // Unchanged triggers (a ScaledObject update that did not touch them) are compared in place.
    bool same = known != trigger_metadata_.end();
    for (const auto& t : so->triggers) {
      if (!options_.ownership.owns(t)) continue;
      same = same && owned < known->second.size() && known->second[owned] == t.metadata;
      ++owned;
    }
    if (owned > 0 && same && owned == known->second.size()) return;
  }
  if (owned == 0) {  // gone, or no lockstep trigger (any more)
    if (known == trigger_metadata_.end()) return;
    trigger_metadata_.erase(known);
    specs_.erase(key);
    if (catalogue_) catalogue_->remove(key.ns, key.name);
    return;
  }
  std::vector<std::map<std::string, std::string>> metadata;
  std::vector<size_t> index;  // trigger position in the object, for error paths
  for (size_t i = 0; i < so->triggers.size(); ++i) {
    if (!options_.ownership.owns(so->triggers[i])) continue;
    metadata.push_back(so->triggers[i].metadata);
    index.push_back(i);
  }
  std::vector<scaler::ParseResult> results;
  if (catalogue_) {
    results = catalogue_->upsert({key.ns, key.name, metadata});
  } else {
    for (const auto& md : metadata) {
      results.push_back(scaler::parse_trigger_metadata(key.ns, key.name, md));
    }
  }
  std::vector<scaler::TriggerSpec> specs;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].spec) {
      for (const auto& w : results[i].spec->warnings) {
        if (w.find("\"rolloutAware\"") != std::string::npos) continue;  // read by this module
        log_.info("trigger metadata warning", {{"object", key.str()}, {"warning", w}});
      }
      // A proxyFleet trigger scales the proxies themselves: it routes nothing.
      if (!results[i].spec->is_fleet()) specs.push_back(std::move(*results[i].spec));
    } else if (results[i].error) {
      if (metrics_) metrics_->object_invalid("ScaledObject");
      log_.warn("trigger skipped", {{"object", key.str()},
                                    {"field", "spec.triggers[" + std::to_string(index[i]) +
                                                  "].metadata." + results[i].error->key},
                                    {"error", results[i].error->message()}});
    }
  }
  trigger_metadata_[key] = std::move(metadata);
  specs_[key] = std::move(specs);
}

void RouteAuthority::sync_catalogue(const ClusterView& view, const ClusterChanges& changes) {
  auto sync = [&](const ObjectKey& key) {
    auto it = view.scaled_objects.find(key);
    sync_triggers(key, it == view.scaled_objects.end() ? nullptr : &it->second);
  };
  if (!changes.everything) {
    for (const auto& key : changes.scaled_objects) sync(key);
    return;
  }
  std::vector<ObjectKey> gone;
  for (const auto& [key, _] : trigger_metadata_) {
    if (!view.scaled_objects.count(key)) gone.push_back(key);
  }
  for (const auto& key : gone) sync_triggers(key, nullptr);
  for (const auto& [key, so] : view.scaled_objects) sync_triggers(key, &so);
}

void RouteAuthority::report(const std::string& key, const ResolvedRoute* route) {
  if (!route) {
    problems_.erase(key);
    return;
  }
  auto& last = problems_[key];
  const auto& problems = route->info.problems;
  if (last == problems) return;
  for (const auto& p : problems) {
    if (std::find(last.begin(), last.end(), p) == last.end()) {
      log_.warn("route problem", {{"route", key}, {"problem", p}});
    }
  }
  if (problems.empty()) log_.info("route problems resolved", {{"route", key}});
  last = problems;
}

bool RouteAuthority::rebuild() { return build(false); }
bool RouteAuthority::rebuild_full() { return build(true); }

bool RouteAuthority::build(bool full) {
  std::lock_guard<std::mutex> build(build_mu_);
  const bool sources_ok = !sources_synced_ || sources_synced_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = false;
  }
  const auto started = std::chrono::steady_clock::now();
  RouteLedger::Update update = state_.drain([&](const ClusterView& view, ClusterChanges& changes) {
    // The journal has one consumer; an authority's first build does not trust what it says.
    if (full || generation_ == 0) changes = ClusterChanges::all();
    sync_catalogue(view, changes);
    return ledger_.apply(view, specs_, changes, memory_);
  });
  const uint64_t generation = ++generation_;
  auto snapshot = ledger_.snapshot(generation);

  for (const auto& e : update.invalid_annotations) {
    if (metrics_) metrics_->object_invalid(e.kind);
    log_.warn("split annotation invalid; keeping the last good split",
              {{"object", e.ns + "/" + e.name}, {"field", e.field}, {"error", e.reason}});
  }
  // The changed routes: their backends for the catalogue, their problems for the log.
  std::vector<std::pair<std::string, std::shared_ptr<const ResolvedRoute>>> changed;
  changed.reserve(update.changed.size());
  for (const auto& key : update.changed) {
    auto it = ledger_.routes().find(key);
    changed.emplace_back(key, it == ledger_.routes().end() ? nullptr : it->second);
  }
  for (const auto& [key, resolved] : changed) {
    report(key, resolved.get());
    std::vector<scaler::BackendInfo> list;
    if (resolved && resolved->route) {
      for (const auto& b : resolved->route->backends()) list.push_back({b.service(), to_role(b.role())});
    }
    auto known = backends_.find(key);
    if (list.empty()) {
      if (known == backends_.end()) continue;
      if (catalogue_) catalogue_->remove_backends(key);
      backends_.erase(known);
    } else if (known == backends_.end() || !same_backends(known->second, list)) {
      if (catalogue_) catalogue_->set_backends(key, list);
      backends_[key] = std::move(list);
    }
  }

  const size_t routes = snapshot->routes.size();
  const uint64_t version = snapshot->version;
  bool changed_version = false;
  std::vector<Listener> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++builds_;
    last_resolved_ = update.resolved;
    changed_version = snapshot_->version != version || snapshot_->routes.size() != routes ||
                      (sources_ok && !synced_);
    for (auto& [key, resolved] : changed) {
      if (!resolved) {
        published_.erase(key);
        continue;
      }
      PublishedRoute& p = published_[key];
      const bool same_split = p.resolved && p.resolved->route && resolved->route &&
                              p.resolved->split_fingerprint == resolved->split_fingerprint;
      if (!same_split) p.split_since = generation;
      p.resolved = std::move(resolved);
    }
    snapshot_ = std::move(snapshot);
    if (sources_ok) synced_ = true;
    if (synced_ && changed_version) {
      history_.emplace_back(version, generation);
      while (history_.size() > options_.version_history) history_.pop_front();
      listeners = listeners_;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (metrics_) {
    metrics_->table_built(seconds, version, routes, changed_version);
    metrics_->set_synced(sources_ok);
    for (size_t k = 0; k < kObjectKinds; ++k) {
      metrics_->set_objects(static_cast<ObjectKind>(k), state_.size(static_cast<ObjectKind>(k)));
    }
  }
  if (!listeners.empty()) {
    std::shared_ptr<const RouteTableSnapshot> table = this->table();
    log_.debug("route table", {{"version", std::to_string(version)},
                               {"routes", std::to_string(routes)},
                               {"resolved", std::to_string(update.resolved)}});
    for (const auto& l : listeners) l(table);
  }
  return changed_version;
}

}  // namespace lockstep::rollout
