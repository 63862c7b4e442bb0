#include "proxy/report_composer.h"

#include <doctest/doctest.h>

#include <numeric>
#include <string>
#include <vector>

namespace lockstep::proxy {
namespace {

namespace v1 = lockstep::v1;

uint64_t sum(const SeriesHistory::Cut& c) {
  return c.base + std::accumulate(c.counts.begin(), c.counts.end(), uint64_t{0});
}

TEST_CASE("history buckets carry base to the current value exactly") {
  SeriesHistory h(1000, 60);
  h.record(10'200, {5});        // boundary 10000: value 5
  h.record(10'700, {9});        // same bucket: ignored
  h.record(11'050, {12});       // boundary 11000
  h.record(12'010, {12});       // boundary 12000 (no requests in [11000, 12000))
  h.record(14'020, {30});       // 13000 skipped: keeps 12; boundary 14000: 30
  auto c = h.cut(0, 33);
  CHECK(c.base == 5);
  CHECK(c.start_unix_ms == 10'000);
  CHECK(c.counts == std::vector<uint32_t>{7, 0, 0, 18, 3});
  CHECK(sum(c) == 33);
  // A series registered after the first rows was at 0 there.
  auto late = h.cut(1, 4);
  CHECK(late.base == 0);
  CHECK(late.counts == std::vector<uint32_t>{4});
  CHECK(late.start_unix_ms == 14'000);
  CHECK(sum(late) == 4);
}

TEST_CASE("history keeps only the configured number of buckets - quiet series have none") {
  SeriesHistory h(1000, 3);
  for (int64_t t = 0; t <= 10'000; t += 1000) h.record(t + 5, {static_cast<uint64_t>(t / 1000)});
  auto c = h.cut(0, 10);
  CHECK(c.start_unix_ms == 7'000);
  CHECK(c.base == 7);
  CHECK(c.counts == std::vector<uint32_t>{1, 1, 1, 0});  // the partial current bucket is empty
  CHECK(sum(c) == 10);
  SeriesHistory q(1000, 10);
  q.record(1'000, {50});
  q.record(2'000, {50});
  auto quiet = q.cut(0, 50);
  CHECK(quiet.counts.empty());
  CHECK(quiet.base == 50);
}

TEST_CASE("the first report defines every series with history - later ones only changes") {
  SeriesHistory h(1000, 60);
  h.record(1'000, {0, 10});
  h.record(2'000, {4, 10});
  std::vector<SeriesName> names{{"ns/a", "a-stable"}, {"ns/b", "b"}};
  std::vector<SeriesValues> values{{6, 1, 0}, {10, 0, 0}};
  ReportComposer composer;
  uint64_t seq = 41;
  std::vector<v1::ReportRequest> out;
  composer.compose(names, values, h, 77, false, false, 2'500, seq, out);
  REQUIRE(out.size() == 1);
  const v1::Report& r = out[0].report();
  CHECK(r.seq() == 41);
  CHECK(seq == 42);
  CHECK(r.route_table_version() == 77);
  REQUIRE(r.defs_size() == 2);
  CHECK(r.defs(0).id() == 1);
  CHECK(r.defs(0).route() == "ns/a");
  CHECK(r.defs(0).backend() == "a-stable");
  CHECK(r.defs(0).base_requests() == 0);
  CHECK(r.defs(1).base_requests() == 10);  // no requests in the span: base is the value
  REQUIRE(r.history_size() == 1);
  CHECK(r.history(0).id() == 1);
  CHECK(r.history(0).start_unix_ms() == 1'000);
  CHECK(std::vector<uint32_t>(r.history(0).counts().begin(), r.history(0).counts().end()) ==
        std::vector<uint32_t>{4, 2});
  CHECK(r.samples_size() == 2);
  CHECK(r.samples(0).requests() == 6);
  CHECK(r.samples(0).in_flight() == 1);

  // Nothing changed and nothing forces: no report.
  out.clear();
  composer.compose(names, values, h, 77, false, false, 2'750, seq, out);
  CHECK(out.empty());
  // A held request: urgent, one sample, and a new series defined with base 0.
  names.push_back({"ns/c", "c"});
  values[0].held = 1;
  values.push_back({1, 0, 1});
  composer.compose(names, values, h, 77, true, true, 3'000, seq, out);
  REQUIRE(out.size() == 1);
  const v1::Report& u = out[0].report();
  CHECK(u.urgent());
  CHECK(u.seq() == 42);
  REQUIRE(u.defs_size() == 1);
  CHECK(u.defs(0).id() == 3);
  CHECK(u.defs(0).base_requests() == 0);
  CHECK(u.history_size() == 0);
  REQUIRE(u.samples_size() == 2);
  CHECK(u.samples(0).id() == 1);
  CHECK(u.samples(0).held() == 1);
  CHECK(u.samples(1).id() == 3);
  // A new route table version forces a report (the ack of the table).
  out.clear();
  composer.compose(names, values, h, 78, false, false, 3'250, seq, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].report().samples_size() == 0);
  CHECK(out[0].report().route_table_version() == 78);
}

TEST_CASE("large openings are split into reports under the entry limit") {
  SeriesHistory h(1000, 60);
  std::vector<SeriesName> names;
  std::vector<SeriesValues> values;
  for (int i = 0; i < 25; ++i) {
    names.push_back({"ns/r" + std::to_string(i), "svc"});
    values.push_back({static_cast<uint64_t>(i), 0, 0});
  }
  ReportComposer composer(10);
  uint64_t seq = 1;
  std::vector<v1::ReportRequest> out;
  composer.compose(names, values, h, 1, false, false, 1'000, seq, out);
  CHECK(out.size() == 5);  // 2 entries per series (def + sample), 10 per report
  int defs = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& r = out[i].report();
    CHECK(r.seq() == i + 1);
    CHECK(r.defs_size() + r.history_size() + r.samples_size() <= 10);
    CHECK(r.defs_size() == r.samples_size());
    defs += r.defs_size();
  }
  CHECK(defs == 25);
}

TEST_CASE("report phases: stable per proxy, within the first quarter, spread over a fleet") {
  CHECK(report_phase_ms("web-5d8f9c7b6-x2k4q", 250) == report_phase_ms("web-5d8f9c7b6-x2k4q", 250));
  CHECK(report_phase_ms("any", 3) == 0);  // no room to spread
  CHECK(report_phase_ms("", 1000) >= 0);
  // 400 pod names of one Deployment over a 1 s interval: every phase in [0, 250) ms, and each
  // 25 ms slice of that quarter gets some of them and none more than a fifth.
  std::vector<int> slices(10, 0);
  for (int i = 0; i < 400; ++i) {
    const std::string pod = "lockstep-proxy-6b7f5d9c4-" + std::to_string(i * 7919);
    const auto phase = report_phase_ms(pod, 1000);
    REQUIRE(phase >= 0);
    REQUIRE(phase < 250);
    ++slices[static_cast<size_t>(phase / 25)];
  }
  for (int n : slices) {
    CHECK(n > 0);
    CHECK(n <= 80);
  }
}

}  // namespace
}  // namespace lockstep::proxy
