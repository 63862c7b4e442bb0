#include "common/clock.h"

#include <doctest/doctest.h>

namespace lockstep {
namespace {

using std::chrono::milliseconds;

TEST_CASE("ManualClock moves only when advanced, both time lines together") {
  ManualClock clock(milliseconds(1'000'000));
  const auto steady = clock.steady_now();
  CHECK(clock.unix_ms() == 1'000'000);
  CHECK(clock.steady_now() == steady);
  clock.advance(milliseconds(250));
  CHECK(clock.unix_ms() == 1'000'250);
  CHECK(clock.steady_now() - steady == milliseconds(250));
}

TEST_CASE("SystemClock wall time is after 2020") {
  SystemClock clock;
  CHECK(clock.unix_ms() > 1'577'836'800'000);
}

}  // namespace
}  // namespace lockstep
