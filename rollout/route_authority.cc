#include "rollout/route_authority.h"

#include <algorithm>
#include <string>
#include <string_view>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "rollout/rollout_metrics.h"

namespace lockstep::rollout {
namespace {

// The split of a route: every field but the backends' endpoints, hashed (FNV-1a). Two tables
// that differ only in endpoints give a route the same fingerprint. Hashes the fields in place
// (no copy of the endpoints: this runs for every route on every rebuild).
class Fnv {
 public:
  void bytes(std::string_view s) {
    for (unsigned char c : s) mix(c);
    mix(0xff);  // terminator: "ab","c" and "a","bc" differ
  }
  void number(uint64_t v) {
    for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(v >> (8 * i)));
  }
  uint64_t value() const { return h_; }

 private:
  void mix(unsigned char c) {
    h_ ^= c;
    h_ *= 1099511628211ull;
  }
  uint64_t h_ = 1469598103934665603ull;
};

uint64_t split_fingerprint(const v1::Route& route) {
  Fnv f;
  f.bytes(route.key());
  f.number(static_cast<uint64_t>(route.hosts_size()));
  for (const auto& h : route.hosts()) f.bytes(h);
  f.number(static_cast<uint64_t>(route.path_prefixes_size()));
  for (const auto& p : route.path_prefixes()) f.bytes(p);
  f.number(route.max_weight());
  f.number(route.split_generation());
  f.number(static_cast<uint64_t>(route.backends_size()));
  for (const auto& b : route.backends()) {
    f.bytes(b.service());
    f.number(static_cast<uint64_t>(b.role()));
    f.number(b.weight());
  }
  f.number(static_cast<uint64_t>(route.header_routes_size()));
  for (const auto& hr : route.header_routes()) {
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream out(&bytes);
      google::protobuf::io::CodedOutputStream coded(&out);
      coded.SetSerializationDeterministic(true);
      hr.SerializeToCodedStream(&coded);
    }
    f.bytes(bytes);
  }
  return f.value();
}

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
  current_.routes = std::make_shared<const std::map<std::string, RouteInfo>>();
  current_.fingerprints = std::make_shared<const Fingerprints>();
  current_.contexts = std::make_shared<const std::map<std::string, RolloutContext>>();
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
  std::shared_ptr<const v1::RouteTable> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.push_back(listener);
    if (synced_) table = current_.table;
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

std::shared_ptr<const v1::RouteTable> RouteAuthority::table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_ ? current_.table : nullptr;
}

std::shared_ptr<const std::map<std::string, RolloutContext>> RouteAuthority::rollout_contexts()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_.contexts;
}

std::vector<std::string> RouteAuthority::route_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, _] : *current_.routes) out.push_back(key);
  return out;
}

bool RouteAuthority::route(const std::string& key, RouteView& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = current_.routes->find(key);
  if (it == current_.routes->end()) return false;
  out.info = it->second;
  out.table = current_.table;
  out.route = nullptr;
  if (auto idx = current_.index.find(key); idx != current_.index.end() && current_.table) {
    out.route = &current_.table->routes(static_cast<int>(idx->second));
  }
  return true;
}

AppliedStatus RouteAuthority::applied(const std::string& key,
                                      const std::vector<aggregator::ProxyStatus>& proxies) const {
  AppliedStatus out;
  out.connected = proxies.size();
  std::lock_guard<std::mutex> lock(mu_);
  auto fp = current_.fingerprints->find(key);
  for (const auto& p : proxies) {
    AppliedStatus::Pending pending{p.proxy_id, p.boot_epoch, p.route_table_version, {}};
    if (fp == current_.fingerprints->end()) {
      pending.reason = "the route is not in this replica's table";
    } else if (p.route_table_version == 0) {
      pending.reason = "no route table yet";
    } else {
      auto h = std::find_if(history_.begin(), history_.end(),
                            [&](const auto& e) { return e.first == p.route_table_version; });
      if (h == history_.end()) {
        pending.reason = "unknown table version";
      } else {
        auto theirs = h->second->find(key);
        if (theirs == h->second->end()) {
          pending.reason = "the table it applies has no such route";
        } else if (theirs->second != fp->second) {
          pending.reason = "applies an older split";
        }
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

void RouteAuthority::sync_catalogue(const ClusterView& view) {
  auto report_error = [&](ObjectError e) {
    if (metrics_) metrics_->object_invalid(e.kind);
    log_.warn("trigger skipped", {{"object", e.ns + "/" + e.name},
                                  {"field", e.field},
                                  {"error", e.reason}});
  };
  std::vector<ObjectKey> gone;
  for (const auto& [key, _] : trigger_metadata_) {
    if (!view.scaled_objects.count(key)) gone.push_back(key);
  }
  for (const auto& [key, so] : view.scaled_objects) {
    auto known = trigger_metadata_.find(key);
    // Unchanged triggers (the common case on a rebuild) are compared in place, without copies.
    size_t owned = 0;
    bool same = known != trigger_metadata_.end();
    for (const auto& t : so.triggers) {
      if (!options_.ownership.owns(t)) continue;
      same = same && owned < known->second.size() && known->second[owned] == t.metadata;
      ++owned;
    }
    if (owned == 0) {
      if (known != trigger_metadata_.end()) gone.push_back(key);
      continue;
    }
    if (same && owned == known->second.size()) continue;
    std::vector<std::map<std::string, std::string>> metadata;
    std::vector<size_t> index;  // trigger position in the object, for error paths
    for (size_t i = 0; i < so.triggers.size(); ++i) {
      if (!options_.ownership.owns(so.triggers[i])) continue;
      metadata.push_back(so.triggers[i].metadata);
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
        report_error(ObjectError{"ScaledObject", key.ns, key.name,
                                 "spec.triggers[" + std::to_string(index[i]) + "].metadata." +
                                     results[i].error->key,
                                 results[i].error->message()});
      }
    }
    trigger_metadata_[key] = std::move(metadata);
    specs_[key] = std::move(specs);
  }
  for (const auto& key : gone) {
    trigger_metadata_.erase(key);
    specs_.erase(key);
    if (catalogue_) catalogue_->remove(key.ns, key.name);
  }
}

void RouteAuthority::report(const Resolution& res) {
  for (const auto& e : res.invalid_annotations) {
    if (metrics_) metrics_->object_invalid(e.kind);
    log_.warn("split annotation invalid; keeping the last good split",
              {{"object", e.ns + "/" + e.name}, {"field", e.field}, {"error", e.reason}});
  }
  std::vector<std::string> stale;
  for (const auto& [key, problems] : problems_) {
    if (!res.routes.count(key)) stale.push_back(key);
  }
  for (const auto& key : stale) problems_.erase(key);
  for (const auto& [key, info] : res.routes) {
    auto& last = problems_[key];
    if (last == info.problems) continue;
    for (const auto& p : info.problems) {
      if (std::find(last.begin(), last.end(), p) == last.end()) {
        log_.warn("route problem", {{"route", key}, {"problem", p}});
      }
    }
    if (info.problems.empty()) log_.info("route problems resolved", {{"route", key}});
    last = info.problems;
  }
}

bool RouteAuthority::rebuild() {
  std::lock_guard<std::mutex> build(build_mu_);
  const bool sources_ok = !sources_synced_ || sources_synced_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = false;
  }
  const auto started = std::chrono::steady_clock::now();
  Resolution res = state_.read([&](const ClusterView& view) {
    sync_catalogue(view);
    return resolve_routes(view, specs_, memory_);
  });
  res.table.set_generation(++generation_);

  Published next;
  auto fingerprints = std::make_shared<Fingerprints>();
  auto contexts = std::make_shared<std::map<std::string, RolloutContext>>();
  std::map<std::string, std::vector<scaler::BackendInfo>> backends;
  for (int i = 0; i < res.table.routes_size(); ++i) {
    const v1::Route& r = res.table.routes(i);
    next.index[r.key()] = static_cast<size_t>(i);
    (*fingerprints)[r.key()] = split_fingerprint(r);
    auto& b = backends[r.key()];
    for (const auto& backend : r.backends()) b.push_back({backend.service(), to_role(backend.role())});
  }
  for (const auto& [key, info] : res.routes) {
    if (info.rollout && info.routed) (*contexts)[key] = *info.rollout;
  }
  if (catalogue_) {
    for (const auto& [key, list] : backends) {
      auto it = backends_.find(key);
      if (it == backends_.end() || !same_backends(it->second, list)) catalogue_->set_backends(key, list);
    }
    for (const auto& [key, _] : backends_) {
      if (!backends.count(key)) catalogue_->remove_backends(key);
    }
  }
  backends_ = std::move(backends);
  report(res);

  const size_t routes = static_cast<size_t>(res.table.routes_size());
  const uint64_t version = res.table.version();
  next.table = std::make_shared<const v1::RouteTable>(std::move(res.table));
  next.routes = std::make_shared<const std::map<std::string, RouteInfo>>(std::move(res.routes));
  next.contexts = std::move(contexts);

  bool changed = false;
  std::vector<Listener> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++builds_;
    changed = !current_.table || current_.table->version() != version || (sources_ok && !synced_);
    // Endpoint-only changes keep every split: share the previous fingerprint map.
    if (*current_.fingerprints == *fingerprints) {
      next.fingerprints = current_.fingerprints;
    } else {
      next.fingerprints = std::move(fingerprints);
    }
    current_ = std::move(next);
    if (sources_ok) synced_ = true;
    if (synced_ && changed) {
      history_.emplace_back(version, current_.fingerprints);
      while (history_.size() > options_.version_history) history_.pop_front();
      listeners = listeners_;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (metrics_) {
    metrics_->table_built(seconds, version, routes, changed);
    metrics_->set_synced(sources_ok);
    for (size_t k = 0; k < kObjectKinds; ++k) {
      metrics_->set_objects(static_cast<ObjectKind>(k), state_.size(static_cast<ObjectKind>(k)));
    }
  }
  if (!listeners.empty()) {
    std::shared_ptr<const v1::RouteTable> table = this->table();
    log_.debug("route table", {{"version", std::to_string(version)},
                               {"routes", std::to_string(routes)}});
    for (const auto& l : listeners) l(table);
  }
  return changed;
}

}  // namespace lockstep::rollout
