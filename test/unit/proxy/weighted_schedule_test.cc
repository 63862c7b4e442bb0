#include "proxy/weighted_schedule.h"

#include <doctest/doctest.h>

#include <vector>

namespace lockstep::proxy {
namespace {

std::vector<uint32_t> counts(const WeightedSchedule& s, size_t backends, uint64_t from, uint64_t n) {
  std::vector<uint32_t> c(backends, 0);
  for (uint64_t i = from; i < from + n; ++i) ++c[s.pick(i)];
  return c;
}

TEST_CASE("20/80 gives exactly 20 of every 100 consecutive requests from any starting point") {
  const std::vector<uint32_t> w{80, 20};
  auto s = WeightedSchedule::build(w, nullptr);
  REQUIRE(s);
  CHECK(s->cycle() == 5);  // reduced by the gcd
  CHECK_FALSE(s->single());
  for (uint64_t start = 0; start < 200; ++start) {
    auto c = counts(*s, 2, start, 100);
    REQUIRE(c[0] == 80);
    REQUIRE(c[1] == 20);
  }
  auto c = counts(*s, 2, 0, 1000);
  CHECK(c[1] == 200);
}

TEST_CASE("the split is smooth: a 1% canary is not bunched a 50/50 alternates") {
  const std::vector<uint32_t> w{99, 1};
  auto s = WeightedSchedule::build(w, nullptr);
  REQUIRE(s);
  CHECK(s->cycle() == 100);
  CHECK(counts(*s, 2, 0, 100)[1] == 1);
  const std::vector<uint32_t> half{50, 50};
  auto h = WeightedSchedule::build(half, nullptr);
  REQUIRE(h);
  for (uint64_t i = 0; i < 10; ++i) CHECK(h->pick(i) != h->pick(i + 1));
}

TEST_CASE("three destinations with weights 60/30/10") {
  const std::vector<uint32_t> w{60, 30, 10};
  auto s = WeightedSchedule::build(w, nullptr);
  REQUIRE(s);
  auto c = counts(*s, 3, 7, 100);
  CHECK(c == std::vector<uint32_t>{60, 30, 10});
}

TEST_CASE("a single weighted backend is marked single - zero weights are refused") {
  const std::vector<uint32_t> w{100, 0};
  auto s = WeightedSchedule::build(w, nullptr);
  REQUIRE(s);
  CHECK(s->single());
  CHECK(s->pick(12345) == 0);
  const std::vector<uint32_t> zero{0, 0};
  std::string error;
  CHECK_FALSE(WeightedSchedule::build(zero, &error));
  CHECK(error == "every backend weight is 0");
}

TEST_CASE("cycles longer than the limit are refused with the reason") {
  const std::vector<uint32_t> w{1'000'000, 999'999};
  std::string error;
  CHECK_FALSE(WeightedSchedule::build(w, &error));
  CHECK(error.find("cycle of 1999999 slots") != std::string::npos);
}

}  // namespace
}  // namespace lockstep::proxy
