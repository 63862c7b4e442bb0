#include "aggregator/route.h"

#include <algorithm>
#include <numeric>

#include "common/dns_name.h"

namespace lockstep::aggregator {

RouteShape RouteShape::merge(const RouteShape& a, const RouteShape& b, uint32_t max_slots) {
  RouteShape out;
  out.window_ms = std::max(a.window_ms, b.window_ms);
  const uint32_t g = std::gcd(a.granularity_ms, b.granularity_ms);
  out.granularity_ms = g;
  // Coarsen to a multiple of the gcd until the ring fits.
  while (out.slots() > max_slots) out.granularity_ms += g;
  return out;
}

bool valid_route_key(std::string_view key, std::string* why) {
  const auto slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (why) *why = "route \"" + std::string(key) + "\" is not \"namespace/name\"";
    return false;
  }
  const auto ns = key.substr(0, slash);
  const auto name = key.substr(slash + 1);
  if (!is_dns1123_label(ns)) {
    if (why) *why = "route namespace \"" + std::string(ns) + "\" is not a DNS-1123 label";
    return false;
  }
  if (!is_dns1123_subdomain(name)) {
    if (why) *why = "route name \"" + std::string(name) + "\" is not a DNS-1123 subdomain";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// RouteSeries

RouteSeries::RouteSeries(Route& route, std::string backend, uint32_t id, const RouteShape& shape)
    : route_(route),
      backend_(std::move(backend)),
      id_(id),
      ring_owner_(std::make_unique<BucketRing>(shape.granularity_ms, shape.slots())) {
  ring_.store(ring_owner_.get(), std::memory_order_seq_cst);
}

RouteSeries::~RouteSeries() = default;

bool RouteSeries::credit(int64_t at_ms, int64_t now_ms, uint64_t n) {
  if (n == 0) return false;
  total_.fetch_add(n, std::memory_order_relaxed);
  // seq_cst load: see WriterEpochs (a reshape may be replacing the ring right now).
  BucketRing* ring = ring_.load(std::memory_order_seq_cst);
  const int64_t now_b = ring->bucket_of(now_ms);
  int64_t b = ring->bucket_of(std::min(at_ms, now_ms));
  // Keep one slot of slack for a concurrent writer that has moved to the next bucket.
  if (b <= now_b - static_cast<int64_t>(ring->slots()) + 1) return false;
  return ring->add(b, n);
}

void RouteSeries::add_gauges(int64_t d_in_flight, int64_t d_held) {
  if (d_in_flight != 0) in_flight_.fetch_add(d_in_flight, std::memory_order_relaxed);
  if (d_held != 0) held_.fetch_add(d_held, std::memory_order_relaxed);
}

double RouteSeries::requests_in(int64_t from_ms, int64_t to_ms) const {
  return ring_.load(std::memory_order_seq_cst)->sum(from_ms, to_ms);
}

void RouteSeries::reshape(const RouteShape& shape, int64_t now_ms) {
  BucketRing* old = ring_.load(std::memory_order_seq_cst);
  auto fresh = std::make_unique<BucketRing>(shape.granularity_ms, shape.slots());
  Retired retired;
  // One snapshot serves both the copy and, later, the drain: whatever a writer adds to the old
  // ring after it is moved over by drain(), exactly once.
  retired.copied = old->raw();
  const int64_t first = old->bucket_of(now_ms) - old->slots() + 1;
  for (const auto& e : old->entries_in(retired.copied, first)) {
    // Old buckets map onto the new (finer or equal) grid at their start time.
    fresh->add(fresh->bucket_of(e.bucket * old->granularity_ms()), e.count);
  }
  ring_.store(fresh.get(), std::memory_order_seq_cst);
  retired.ring = std::move(ring_owner_);
  ring_owner_ = std::move(fresh);
  retired_.push_back(std::move(retired));
}

bool RouteSeries::drain(int64_t now_ms) {
  bool any = false;
  BucketRing* live = ring_.load(std::memory_order_seq_cst);
  for (auto& r : retired_) {
    if (r.drained || !r.ring) continue;
    for (const auto& e : r.ring->added_since(r.copied, r.ring->bucket_of(now_ms))) {
      live->add(live->bucket_of(e.bucket * r.ring->granularity_ms()), e.count);
    }
    r.drained = true;
    // The ring itself stays allocated: a reader may still be summing it.
    any = true;
  }
  return any;
}

// ---------------------------------------------------------------------------------------------
// Route

Route::Route(std::string key, const RouteShape& shape, int64_t observed_since_ms)
    : key_(std::move(key)),
      slash_(key_.find('/')),
      shape_granularity_ms_(shape.granularity_ms),
      shape_window_ms_(shape.window_ms),
      observed_since_ms_(observed_since_ms),
      last_activity_ms_(observed_since_ms) {}

Route::~Route() = default;

std::string_view Route::route_namespace() const {
  return std::string_view(key_).substr(0, slash_ == std::string::npos ? 0 : slash_);
}

std::string_view Route::name() const {
  return slash_ == std::string::npos ? std::string_view(key_)
                                     : std::string_view(key_).substr(slash_ + 1);
}

RouteSeries* Route::find_series(std::string_view backend) const {
  const size_t n = series_count();
  for (size_t i = 0; i < n; ++i) {
    if (series(i).backend() == backend) return &series(i);
  }
  return nullptr;
}

RouteShape Route::shape() const {
  return RouteShape{shape_granularity_ms_.load(std::memory_order_relaxed),
                    shape_window_ms_.load(std::memory_order_relaxed)};
}

void Route::observed_at(int64_t ms) {
  int64_t cur = observed_since_ms_.load(std::memory_order_relaxed);
  while (ms < cur &&
         !observed_since_ms_.compare_exchange_weak(cur, ms, std::memory_order_relaxed)) {
  }
}

namespace {

// The interval a rate is computed over: the window, or less if less has been observed, but at
// least one bucket so a fresh route does not divide by almost nothing.
int64_t covered_ms(int64_t now_ms, uint32_t window_ms, uint32_t granularity_ms,
                   int64_t observed_since_ms) {
  const int64_t seen = now_ms - observed_since_ms;
  return std::clamp<int64_t>(seen, granularity_ms, std::max(window_ms, granularity_ms));
}

}  // namespace

double Route::request_rate(int64_t now_ms, uint32_t window_ms) const {
  const RouteShape s = shape();
  const int64_t covered =
      covered_ms(now_ms, std::min(window_ms, s.window_ms), s.granularity_ms, observed_since_ms());
  double total = 0;
  const size_t n = series_count();
  for (size_t i = 0; i < n; ++i) total += series(i).requests_in(now_ms - covered, now_ms);
  return total * 1000.0 / static_cast<double>(covered);
}

double Route::request_rate(const RouteSeries& series, int64_t now_ms, uint32_t window_ms) const {
  const RouteShape s = shape();
  const int64_t covered =
      covered_ms(now_ms, std::min(window_ms, s.window_ms), s.granularity_ms, observed_since_ms());
  return series.requests_in(now_ms - covered, now_ms) * 1000.0 / static_cast<double>(covered);
}

int64_t Route::in_flight() const {
  int64_t v = 0;
  const size_t n = series_count();
  for (size_t i = 0; i < n; ++i) v += series(i).in_flight();
  return v;
}

int64_t Route::held() const {
  int64_t v = 0;
  const size_t n = series_count();
  for (size_t i = 0; i < n; ++i) v += series(i).held();
  return v;
}

uint64_t Route::requests_total() const {
  uint64_t v = 0;
  const size_t n = series_count();
  for (size_t i = 0; i < n; ++i) v += series(i).requests_total();
  return v;
}

}  // namespace lockstep::aggregator
