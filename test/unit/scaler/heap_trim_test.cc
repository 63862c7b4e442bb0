// When the maintenance loop trims the heap: often while trims give memory back, rarely while they
// do not (steady state, or memory still in use), and less often when a trim is slow.
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

// Maintenance rounds until the policy asks for a trim (at most `limit`; limit + 1 if never).
int rounds_until_due(HeapTrimPolicy& p, int limit = 100) {
  for (int i = 1; i <= limit; ++i) {
    if (p.due()) return i;
  }
  return limit + 1;
}

}  // namespace

TEST_CASE("the first trim runs after the shortest wait") {
  HeapTrimPolicy p(options());
  CHECK(rounds_until_due(p) == 2);
}

TEST_CASE("in steady state the waits double up to the longest and stay there") {
  HeapTrimPolicy p(options());
  const int want[] = {2, 4, 8, 16, 16, 16, 16};
  for (int w : want) {
    CHECK(rounds_until_due(p) == w);
    p.trimmed(62 * MiB, 61 * MiB, 2ms);  // 1 MiB back: not worth trimming often
  }
  // 1000 rounds of steady state cost 1000 / 16 trims, not 1000 / 2.
  int trims = 0;
  for (int i = 0; i < 1000; ++i) {
    if (p.due()) {
      ++trims;
      p.trimmed(62 * MiB, 61 * MiB, 2ms);
    }
  }
  CHECK(trims == 62);
}

TEST_CASE("a trim that gives memory back resets the wait, so the rest of a burst follows soon") {
  HeapTrimPolicy p(options());
  for (int i = 0; i < 5; ++i) {
    rounds_until_due(p);
    p.trimmed(62 * MiB, 62 * MiB, 1ms);
  }
  REQUIRE(p.wait_rounds() == 16);
  // A burst ended: the next trim gives 25 MiB back.
  CHECK(rounds_until_due(p) == 16);
  p.trimmed(90 * MiB, 65 * MiB, 3ms);
  CHECK(p.wait_rounds() == 2);
  CHECK(rounds_until_due(p) == 2);
  p.trimmed(65 * MiB, 61 * MiB, 3ms);  // exactly the margin: still worth it
  CHECK(p.wait_rounds() == 2);
  CHECK(rounds_until_due(p) == 2);
  p.trimmed(61 * MiB, 61 * MiB, 3ms);
  CHECK(p.wait_rounds() == 4);
}

TEST_CASE("a slow trim doubles the wait, even when it gave memory back") {
  HeapTrimPolicy p(options());
  CHECK(rounds_until_due(p) == 2);
  p.trimmed(90 * MiB, 60 * MiB, 20ms);
  CHECK(p.wait_rounds() == 4);
  CHECK(rounds_until_due(p) == 4);
  p.trimmed(84 * MiB, 83 * MiB, 20ms);  // little back and slow: 4 -> 8 -> 16
  CHECK(p.wait_rounds() == 16);
  CHECK(rounds_until_due(p) == 16);
  p.trimmed(84 * MiB, 83 * MiB, 20ms);  // capped
  CHECK(p.wait_rounds() == 16);
}

TEST_CASE(
    "nonsense options are clamped: at least one round, the longest wait not below the shortest") {
  HeapTrimPolicy::Options o = options();
  o.min_rounds = 0;
  o.max_rounds = 0;
  HeapTrimPolicy p(o);
  CHECK(rounds_until_due(p) == 1);
  p.trimmed(10 * MiB, 10 * MiB, 1ms);
  CHECK(p.wait_rounds() == 1);
}
