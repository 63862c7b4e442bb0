#include "aggregator/aggregator.h"

#include <algorithm>

namespace lockstep::aggregator {

std::string_view reject_reason_name(RejectReason r) {
  switch (r) {
    case RejectReason::kUnspecified:
      return "unspecified";
    case RejectReason::kUnknownSeriesId:
      return "unknown_series_id";
    case RejectReason::kDuplicateSeriesId:
      return "duplicate_series_id";
    case RejectReason::kMalformedRoute:
      return "malformed_route";
    case RejectReason::kMalformedBackend:
      return "malformed_backend";
    case RejectReason::kRouteLimit:
      return "route_limit";
    case RejectReason::kValueOutOfRange:
      return "value_out_of_range";
    case RejectReason::kHistoryInvalid:
      return "history_invalid";
  }
  return "unspecified";
}

// ---------------------------------------------------------------------------------------------
// RoutePin

RoutePin& RoutePin::operator=(RoutePin&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    route_ = std::move(o.route_);
    shape_ = o.shape_;
  }
  return *this;
}

void RoutePin::reset() {
  if (owner_ != nullptr && route_) owner_->unpin(*route_, shape_);
  owner_ = nullptr;
  route_.reset();
}

// ---------------------------------------------------------------------------------------------
// Aggregator

Aggregator::Aggregator(const Clock& clock, AggregatorOptions options, Logger log)
    : clock_(clock),
      options_(std::move(options)),
      log_(std::move(log)),
      started_unix_ms_(clock.unix_ms()) {}

Aggregator::~Aggregator() = default;

std::shared_ptr<Route> Aggregator::find_route(std::string_view key) const {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto it = routes_.find(key);
  return it == routes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Route>> Aggregator::routes() const {
  std::lock_guard<std::mutex> lock(routes_mu_);
  std::vector<std::shared_ptr<Route>> out;
  out.reserve(routes_.size());
  for (const auto& [k, r] : routes_) out.push_back(r);
  return out;
}

size_t Aggregator::route_count() const {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return routes_.size();
}

std::shared_ptr<Route> Aggregator::create_route_locked(const std::string& key) {
  auto route = std::make_shared<Route>(key, options_.default_shape, started_unix_ms_);
  routes_.emplace(key, route);
  route->order_index_ = route_list_.size();
  route_list_.push_back(route.get());
  longest_window_ms_ = std::max<int64_t>(longest_window_ms_, route->shape().window_ms);
  return route;
}

RoutePin Aggregator::pin_route(const std::string& key, const RouteShape& shape) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto it = routes_.find(key);
  std::shared_ptr<Route> route = it != routes_.end() ? it->second : create_route_locked(key);
  route->pins_.push_back(shape);
  const RouteShape current = route->shape();
  const RouteShape merged = RouteShape::merge(current, shape, options_.max_ring_slots);
  if (merged != current) reshape_locked(*route, merged);
  return RoutePin(this, route, shape);
}

void Aggregator::unpin(Route& route, const RouteShape& shape) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto it = std::find(route.pins_.begin(), route.pins_.end(), shape);
  if (it != route.pins_.end()) route.pins_.erase(it);
  // The ring keeps its shape: shrinking would lose data that a re-added trigger wants back.
}

void Aggregator::reshape_locked(Route& route, const RouteShape& shape) {
  const int64_t now = clock_.unix_ms();
  route.shape_granularity_ms_.store(shape.granularity_ms, std::memory_order_relaxed);
  route.shape_window_ms_.store(shape.window_ms, std::memory_order_relaxed);
  longest_window_ms_ = std::max<int64_t>(longest_window_ms_, shape.window_ms);
  for (auto& s : route.owned_series_) s->reshape(shape, now);
  if (!route.owned_series_.empty()) {
    auto it = routes_.find(route.key());
    if (it != routes_.end()) pending_drains_.push_back({it->second, writer_epochs_.advance()});
  }
  log_.debug("route reshaped", {{"route", route.key()},
                                {"granularity_ms", std::to_string(shape.granularity_ms)},
                                {"window_ms", std::to_string(shape.window_ms)}});
}

RouteSeries* Aggregator::add_series_locked(Route& route, std::string_view backend) {
  uint32_t id;
  if (!free_series_ids_.empty()) {
    id = free_series_ids_.back();
    free_series_ids_.pop_back();
  } else {
    id = next_series_id_++;
  }
  auto series = std::make_unique<RouteSeries>(route, std::string(backend), id, route.shape());
  RouteSeries* raw = series.get();
  series_table_.set(id, raw);
  const size_t n = route.series_count_.load(std::memory_order_relaxed);
  route.series_[n].store(raw, std::memory_order_relaxed);
  route.owned_series_.push_back(std::move(series));
  // Release: readers that see the new count see the constructed series (acquire in
  // Route::series_count()).
  route.series_count_.store(n + 1, std::memory_order_release);
  return raw;
}

Aggregator::Acquired Aggregator::acquire_series(std::string_view route_key,
                                                std::string_view backend) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto it = routes_.find(route_key);
  std::shared_ptr<Route> route;
  if (it != routes_.end()) {
    route = it->second;
  } else {
    if (routes_.size() >= options_.max_routes) {
      return {nullptr, RejectReason::kRouteLimit,
              "the scaler holds " + std::to_string(routes_.size()) +
                  " routes, its limit (aggregator.max_routes)"};
    }
    route = create_route_locked(std::string(route_key));
  }
  RouteSeries* series = route->find_series(backend);
  if (series == nullptr) {
    if (free_series_ids_.empty() &&
        next_series_id_ > std::min(ProxySeriesState::kMaxSeriesId, SeriesTable::kMaxIds - 1)) {
      return {nullptr, RejectReason::kRouteLimit, "the scaler's series table is full"};
    }
    if (route->series_count() >= options_.max_backends_per_route) {
      return {nullptr, RejectReason::kRouteLimit,
              "route \"" + route->key() + "\" already has " +
                  std::to_string(route->series_count()) +
                  " backends, the limit (aggregator.max_backends_per_route)"};
    }
    series = add_series_locked(*route, backend);
  }
  ++route->stream_refs_;
  return {series, RejectReason::kUnspecified, {}};
}

void Aggregator::release_stream_refs(const std::vector<Route*>& routes) {
  if (routes.empty()) return;
  std::lock_guard<std::mutex> lock(routes_mu_);
  for (Route* r : routes) --r->stream_refs_;
}

std::shared_ptr<FleetLoad> Aggregator::fleet(const std::string& key) {
  if (key.empty()) return unnamed_fleet_;
  std::lock_guard<std::mutex> lock(registry_mu_);
  auto& f = fleets_[key];
  if (!f) f = std::make_shared<FleetLoad>(key);
  return f;
}

std::vector<std::shared_ptr<FleetLoad>> Aggregator::fleets() const {
  std::vector<std::shared_ptr<FleetLoad>> out;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    for (const auto& [k, f] : fleets_) out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->key < b->key; });
  return out;
}

std::shared_ptr<ProxyEpoch> Aggregator::open_stream(const std::string& proxy_id,
                                                    uint64_t boot_epoch, std::string* why,
                                                    std::string_view fleet) {
  const int64_t now = clock_.unix_ms();
  std::lock_guard<std::mutex> lock(registry_mu_);
  ProxyRecord& rec = proxies_[proxy_id];
  if (boot_epoch < rec.newest_epoch) {
    *why = "hello.boot_epoch: " + std::to_string(boot_epoch) + " is older than " +
           std::to_string(rec.newest_epoch) + ", already seen for proxy_id \"" + proxy_id +
           "\" (a restarted process must use a larger epoch)";
    return nullptr;
  }
  if (boot_epoch > rec.newest_epoch) {
    // The old process is gone: its gauges go now, its counted requests stay in the rings.
    for (auto& old : rec.epochs) {
      EpochLife& life = lives_[old.get()];
      if (!life.gauges_dropped) {
        std::lock_guard<std::mutex> apply(old->apply_mutex());
        old->drop_gauges();
        old->freeze();
        life.gauges_dropped = true;
      }
      life.superseded = true;
    }
    std::erase_if(rec.epochs, [&](const std::shared_ptr<ProxyEpoch>& e) {
      const bool gone = lives_[e.get()].live_streams == 0;
      if (gone) lives_.erase(e.get());
      return gone;
    });
    rec.newest_epoch = boot_epoch;
  }
  std::shared_ptr<ProxyEpoch> epoch;
  for (auto& e : rec.epochs) {
    if (e->boot_epoch() == boot_epoch) epoch = e;
  }
  if (!epoch) {
    std::shared_ptr<FleetLoad> load = unnamed_fleet_;
    if (!fleet.empty()) {
      auto& f = fleets_[std::string(fleet)];
      if (!f) f = std::make_shared<FleetLoad>(std::string(fleet));
      load = f;
    }
    epoch = std::make_shared<ProxyEpoch>(proxy_id, boot_epoch, series_table_, std::move(load));
    rec.epochs.push_back(epoch);
  }
  EpochLife& life = lives_[epoch.get()];
  if (life.live_streams++ == 0) {
    epoch->connected_since_unix_ms.store(now, std::memory_order_relaxed);
    // Reconnected within the grace period: its gauges never stopped counting. Reconnected after
    // they were dropped: the next report sets them again from zero.
    life.gauges_dropped = false;
  }
  stats_.streams_opened.fetch_add(1, std::memory_order_relaxed);
  return epoch;
}

void Aggregator::close_stream(const std::shared_ptr<ProxyEpoch>& epoch) {
  const int64_t now = clock_.unix_ms();
  std::lock_guard<std::mutex> lock(registry_mu_);
  auto life_it = lives_.find(epoch.get());
  if (life_it == lives_.end()) return;
  EpochLife& life = life_it->second;
  if (--life.live_streams > 0) return;
  life.disconnected_at_ms = now;
  if (life.superseded) {
    auto rec = proxies_.find(epoch->proxy_id());
    if (rec != proxies_.end()) {
      std::erase(rec->second.epochs, epoch);
    }
    lives_.erase(life_it);
  }
}

int64_t Aggregator::eviction_idle_ms(const Route& route) const {
  return std::max<int64_t>(options_.route_idle_eviction.count(), route.shape().window_ms);
}

void Aggregator::sweep() {
  std::lock_guard<std::mutex> one_sweep(sweep_mu_);
  const int64_t now = clock_.unix_ms();

  // 1. Drain rings replaced while writers were inside them.
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    std::erase_if(pending_drains_, [&](PendingDrain& d) {
      if (!writer_epochs_.quiescent_after(d.epoch)) return false;
      for (auto& s : d.route->owned_series_) s->drain(now);
      return true;
    });
  }

  // 2. Proxies: drop gauges after the grace period, forget epochs after their TTL.
  int64_t longest_window = options_.default_shape.window_ms;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    longest_window = std::max(longest_window, longest_window_ms_);
  }
  const int64_t ttl = std::max<int64_t>(options_.proxy_state_ttl.count(), longest_window);
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    for (auto rec_it = proxies_.begin(); rec_it != proxies_.end();) {
      auto& rec = rec_it->second;
      std::erase_if(rec.epochs, [&](const std::shared_ptr<ProxyEpoch>& e) {
        EpochLife& life = lives_[e.get()];
        {
          // Never waits for a report being applied: an index in use is kept anyway.
          std::unique_lock<std::mutex> apply(e->apply_mutex(), std::try_to_lock);
          if (apply.owns_lock()) e->drop_index_if_idle();
        }
        if (life.live_streams > 0) return false;
        const int64_t gone_for = now - life.disconnected_at_ms;
        if (!life.gauges_dropped && gone_for >= options_.gauge_grace.count()) {
          std::lock_guard<std::mutex> apply(e->apply_mutex());
          e->drop_gauges();
          life.gauges_dropped = true;
          log_.info("proxy gauges expired", {{"proxy_id", e->proxy_id()},
                                             {"boot_epoch", std::to_string(e->boot_epoch())}});
        }
        if (gone_for >= ttl) {
          lives_.erase(e.get());
          return true;
        }
        return false;
      });
      // Keep an empty record only as long as it still guards against a stale epoch.
      rec_it = rec.epochs.empty() ? proxies_.erase(rec_it) : std::next(rec_it);
    }
    // A fleet no proxy state and no trigger holds any more.
    std::erase_if(fleets_, [](const auto& kv) { return kv.second.use_count() == 1; });
  }

  // 3. Evict idle routes nobody references. The atomic half of the test runs on a copy of the
  //    route list without the lock; the rest, and the removal, under routes_mu_ for the routes
  //    that passed. Then they are detached from the proxies' states (registry_mu_ -> apply
  //    mutex), then their series ids are reused.
  auto quiet = [&](const Route& r) {
    return now - r.last_activity_ms() >= eviction_idle_ms(r) && r.in_flight() == 0 && r.held() == 0;
  };
  std::vector<Route*> all;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    all = route_list_;
  }
  std::erase_if(all, [&](const Route* r) { return !quiet(*r); });
  std::vector<std::shared_ptr<Route>> evicted;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    for (Route* r : all) {
      if (!r->pins_.empty() || r->stream_refs_ != 0 || !quiet(*r)) continue;
      auto it = routes_.find(r->key());
      // Cannot miss (only sweeps erase, one at a time); checked all the same.
      if (it == routes_.end() || it->second.get() != r) continue;
      evicted.push_back(it->second);
      routes_.erase(it);
      Route* last = route_list_.back();
      route_list_[r->order_index_] = last;
      last->order_index_ = r->order_index_;
      route_list_.pop_back();
    }
    // Pending drains of an evicted route no longer matter.
    std::erase_if(pending_drains_, [&](const PendingDrain& d) {
      return std::find(evicted.begin(), evicted.end(), d.route) != evicted.end();
    });
  }
  if (evicted.empty()) return;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    for (auto& [id, rec] : proxies_) {
      for (auto& e : rec.epochs) {
        std::lock_guard<std::mutex> apply(e->apply_mutex());
        for (auto& r : evicted) {
          for (auto& s : r->owned_series_) e->release(*s);
        }
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    for (auto& r : evicted) {
      for (auto& s : r->owned_series_) free_series_ids_.push_back(s->id());
    }
  }
  stats_.routes_evicted.fetch_add(evicted.size(), std::memory_order_relaxed);
  for (auto& r : evicted) log_.info("route evicted", {{"route", r->key()}});
}

std::vector<ProxyStatus> Aggregator::connected_proxies() const {
  std::lock_guard<std::mutex> lock(registry_mu_);
  std::vector<ProxyStatus> out;
  for (const auto& [id, rec] : proxies_) {
    for (const auto& e : rec.epochs) {
      auto life = lives_.find(e.get());
      if (life == lives_.end() || life->second.live_streams == 0 || life->second.superseded) {
        continue;
      }
      out.push_back(ProxyStatus{e->proxy_id(), e->boot_epoch(),
                                e->route_table_version.load(std::memory_order_relaxed),
                                e->connected_since_unix_ms.load(std::memory_order_relaxed),
                                e->last_report_unix_ms.load(std::memory_order_relaxed),
                                life->second.live_streams,
                                e->fleet() ? e->fleet()->key : std::string()});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ProxyStatus& a, const ProxyStatus& b) { return a.proxy_id < b.proxy_id; });
  return out;
}

size_t Aggregator::proxies_connected() const {
  std::lock_guard<std::mutex> lock(registry_mu_);
  size_t n = 0;
  for (const auto& [id, rec] : proxies_) {
    for (const auto& e : rec.epochs) {
      auto life = lives_.find(e.get());
      if (life != lives_.end() && life->second.live_streams > 0 && !life->second.superseded) {
        ++n;
        break;
      }
    }
  }
  return n;
}

size_t Aggregator::memory_bytes() const {
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    for (const auto& [k, r] : routes_) {
      bytes += sizeof(Route) + k.capacity() * 2;
      const size_t n = r->series_count();
      for (size_t i = 0; i < n; ++i) {
        bytes += sizeof(RouteSeries) + r->shape().slots() * sizeof(uint64_t);
      }
    }
  }
  std::lock_guard<std::mutex> lock(registry_mu_);
  for (const auto& [id, rec] : proxies_) {
    for (const auto& e : rec.epochs) bytes += e->memory_bytes();
  }
  return bytes;
}

}  // namespace lockstep::aggregator
