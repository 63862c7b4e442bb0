// When the maintenance loop trims the heap: only while the resident size is above the floor by
// more than the margin, often while trims give memory back, backing off while they do not, and
// never in steady state.
#include "scaler/heap_trim.h"

#include <chrono>
#include <cstdint>

#include <doctest/doctest.h>

using lockstep::scaler::HeapTrimPolicy;
using namespace std::chrono_literals;

namespace {

constexpr int64_t MiB = int64_t{1} << 20;

HeapTrimPolicy::Options options() {
  HeapTrimPolicy::Options o;
  o.margin_bytes = 4 * MiB;
  o.min_rounds = 2;
  o.max_rounds = 16;
  o.slow = 5ms;
  return o;
}

// Maintenance rounds at `resident` until the policy asks for a trim (limit + 1 if it never does).
int rounds_until_due(HeapTrimPolicy& p, int64_t resident, int limit = 200) {
  for (int i = 1; i <= limit; ++i) {
    if (p.due(resident)) return i;
  }
  return limit + 1;
}

}  // namespace

TEST_CASE("no trim while the resident size stays within the margin of the smallest seen") {
  HeapTrimPolicy p(options());
  CHECK(rounds_until_due(p, 20 * MiB, 10) == 11);
  CHECK(p.floor_bytes() == 20 * MiB);
  for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(p.due(20 * MiB + (i % 9) * MiB / 2));
}

TEST_CASE(
    "growth past the margin is trimmed in the round it shows, then every 2 rounds while it gives "
    "back") {
  HeapTrimPolicy p(options());
  CHECK_FALSE(p.due(20 * MiB));
  CHECK(p.due(72 * MiB));  // proxies connected; their burst is over
  p.trimmed(72 * MiB, 65 * MiB, 3ms);
  CHECK(p.wait_rounds() == 2);
  CHECK(rounds_until_due(p, 65 * MiB) == 2);
  p.trimmed(65 * MiB, 61 * MiB, 3ms);
  CHECK(rounds_until_due(p, 61 * MiB) == 2);
  p.trimmed(61 * MiB, 61 * MiB, 3ms);  // nothing more: one more try soon
  CHECK(p.wait_rounds() == 2);
  CHECK(rounds_until_due(p, 61 * MiB) == 2);
  p.trimmed(61 * MiB, 61 * MiB, 3ms);  // twice in a row: back off
  CHECK(p.wait_rounds() == 4);
}

TEST_CASE(
    "memory in use doubles the wait up to the longest, then becomes the floor and trims stop") {
  HeapTrimPolicy p(options());
  CHECK_FALSE(p.due(20 * MiB));
  const int want[] = {1, 2, 4, 8, 16};
  int trims = 0;
  for (int w : want) {
    CHECK(rounds_until_due(p, 62 * MiB) == w);
    p.trimmed(62 * MiB, 61 * MiB, 2ms);  // 61 MiB live
    ++trims;
  }
  // After the futile trim at the longest wait, 61 MiB is the floor: steady state costs nothing.
  CHECK(p.floor_bytes() == 61 * MiB);
  CHECK(rounds_until_due(p, 62 * MiB, 1000) == 1001);
  CHECK(trims == 5);
}

TEST_CASE("a burst is trimmed once at once, then rarely, and its memory comes back after it ends") {
  HeapTrimPolicy p(options());
  CHECK_FALSE(p.due(60 * MiB));         // floor 60
  CHECK(p.due(85 * MiB));               // flat-out ingest
  p.trimmed(85 * MiB, 84 * MiB, 20ms);  // in use (first time: 2) and slow: 4
  CHECK(p.wait_rounds() == 4);
  CHECK(rounds_until_due(p, 85 * MiB) == 4);
  p.trimmed(85 * MiB, 84 * MiB, 2ms);  // in use twice in a row: 8
  CHECK(rounds_until_due(p, 84 * MiB) == 8);
  p.trimmed(84 * MiB, 62 * MiB, 3ms);  // the burst ended: given back
  CHECK(p.wait_rounds() == 2);
  CHECK_FALSE(p.due(62 * MiB));  // within the margin of the floor
}

TEST_CASE("a slow trim doubles the wait, even when it gave memory back") {
  HeapTrimPolicy p(options());
  CHECK_FALSE(p.due(20 * MiB));
  CHECK(p.due(60 * MiB));
  p.trimmed(60 * MiB, 50 * MiB, 20ms);
  CHECK(p.wait_rounds() == 4);
  CHECK(rounds_until_due(p, 60 * MiB) == 4);
}

TEST_CASE(
    "nonsense options are clamped: at least one round, the longest wait not below the shortest") {
  HeapTrimPolicy::Options o = options();
  o.min_rounds = 0;
  o.max_rounds = 0;
  HeapTrimPolicy p(o);
  CHECK_FALSE(p.due(10 * MiB));
  CHECK(p.due(20 * MiB));
  p.trimmed(20 * MiB, 20 * MiB, 1ms);
  CHECK(p.wait_rounds() == 1);
  CHECK(p.floor_bytes() == 20 * MiB);  // the longest wait is 1 round: futile at once
}
