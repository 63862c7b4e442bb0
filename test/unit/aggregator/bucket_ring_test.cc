#include "aggregator/bucket_ring.h"

#include <doctest/doctest.h>

#include "aggregator/proxy_epoch.h"
#include "aggregator/route.h"

namespace lockstep::aggregator {
namespace {

TEST_CASE("ring slots are tagged by absolute bucket, a new bucket restarts the slot") {
  BucketRing ring(1000, 4);
  CHECK(ring.add(100, 5));
  CHECK(ring.add(100, 2));
  CHECK(ring.count(100) == 7);
  CHECK(ring.count(104) == 0);  // same slot, other bucket
  CHECK(ring.add(104, 1));      // newer bucket takes the slot over
  CHECK(ring.count(104) == 1);
  CHECK(ring.count(100) == 0);
  CHECK_FALSE(ring.add(100, 1));  // older than the slot holds: refused
  CHECK(ring.count(104) == 1);
}

TEST_CASE("ring counts saturate instead of wrapping into the tag") {
  BucketRing ring(1000, 2);
  CHECK(ring.add(7, 0xffff'fff0ULL));
  CHECK(ring.add(7, 0x100));
  CHECK(ring.count(7) == 0xffff'ffffULL);
  CHECK(ring.count(9) == 0);
}

TEST_CASE("ring sum interpolates the oldest edge bucket and counts the current one fully") {
  BucketRing ring(1000, 8);
  for (int64_t b = 10; b <= 14; ++b) ring.add(b, 10);
  // (10'500, 14'300]: bucket 10 half in (5), 11..13 full (30), 14 current (10).
  CHECK(ring.sum(10'500, 14'300) == doctest::Approx(45));
  // Whole buckets.
  CHECK(ring.sum(11'000, 14'000) == doctest::Approx(30));
  CHECK(ring.sum(14'000, 14'000) == 0);
}

TEST_CASE("ring entries and added_since see exactly what was written after a snapshot") {
  BucketRing ring(1000, 4);
  ring.add(20, 3);
  ring.add(21, 4);
  const auto snap = ring.raw();
  auto entries = ring.entries_in(snap, 18);
  CHECK(entries.size() == 2);
  ring.add(21, 6);  // same bucket grows
  ring.add(24, 2);  // slot of bucket 20 reused
  auto added = ring.added_since(snap, 24);
  uint64_t b21 = 0, b24 = 0;
  for (const auto& e : added) {
    if (e.bucket == 21) b21 = e.count;
    if (e.bucket == 24) b24 = e.count;
  }
  CHECK(added.size() == 2);
  CHECK(b21 == 6);
  CHECK(b24 == 2);
}

TEST_CASE("floor_div rounds toward minus infinity") {
  CHECK(BucketRing::floor_div(-1, 1000) == -1);
  CHECK(BucketRing::floor_div(999, 1000) == 0);
  CHECK(BucketRing::floor_div(-1000, 1000) == -1);
}

TEST_CASE("route shapes merge to the gcd granularity and the longest window, within the cap") {
  const RouteShape a{1000, 60'000};
  const RouteShape b{500, 120'000};
  CHECK(RouteShape::merge(a, b, 10'000) == RouteShape{500, 120'000});
  CHECK(RouteShape::merge(a, RouteShape{10'000, 3'600'000}, 10'000) == RouteShape{1000, 3'600'000});
  // 1h at 100ms needs 36002 slots: coarsened to a multiple of 100ms that fits 3602.
  const auto capped = RouteShape::merge(RouteShape{100, 60'000}, RouteShape{1000, 3'600'000}, 3602);
  CHECK(capped.window_ms == 3'600'000);
  CHECK(capped.granularity_ms == 1000);
  CHECK(capped.slots() <= 3602);
  CHECK(a.slots() == 62);
}

TEST_CASE("route keys are namespace/name with Kubernetes names") {
  std::string why;
  CHECK(valid_route_key("shop/web", &why));
  CHECK(valid_route_key("shop/web.v2", &why));
  CHECK_FALSE(valid_route_key("web", &why));
  CHECK(why == "route \"web\" is not \"namespace/name\"");
  CHECK_FALSE(valid_route_key("Shop/web", &why));
  CHECK(why.find("namespace \"Shop\"") != std::string::npos);
  CHECK_FALSE(valid_route_key("shop/we_b", &why));
  CHECK(why.find("name \"we_b\"") != std::string::npos);
  CHECK_FALSE(valid_route_key("shop/a/b", &why));
}

TEST_CASE("series index finds, replaces and erases under probing and growth") {
  SeriesIndex idx;
  for (uint32_t k = 0; k < 5000; ++k) idx.insert(k * 7919u, k);
  CHECK(idx.size() == 5000);
  for (uint32_t k = 0; k < 5000; ++k) REQUIRE(idx.find(k * 7919u) == k);
  CHECK_FALSE(idx.find(1).has_value());
  for (uint32_t k = 0; k < 5000; k += 2) CHECK(idx.erase(k * 7919u));
  CHECK_FALSE(idx.erase(2 * 7919u));
  for (uint32_t k = 0; k < 5000; ++k) {
    if (k % 2 == 0) {
      REQUIRE_FALSE(idx.find(k * 7919u).has_value());
    } else {
      REQUIRE(idx.find(k * 7919u) == k);
    }
  }
  idx.insert(7919u, 42);
  CHECK(idx.find(7919u) == 42);
  CHECK(idx.size() == 2500);
}

}  // namespace
}  // namespace lockstep::aggregator
