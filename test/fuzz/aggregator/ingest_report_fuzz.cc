// Fuzzes the application of proxy reports: the input is a sequence of frames
//   [1 byte: clock step in 100 ms units][2 bytes little-endian: length][length bytes: a serialized
//    lockstep.v1.ReportRequest]
// fed to one IngestSession (a fresh aggregator per input). Invariants: nothing crashes; per route
// the cumulative total never decreases; gauges never go negative; a stream-level error ends the
// input (as the gRPC front end would end the stream).
#include <cstdint>
#include <cstdlib>
#include <map>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"

using namespace lockstep;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ManualClock clock;
  aggregator::Aggregator agg(clock, aggregator::AggregatorOptions{.max_routes = 64},
                             Logger(LogLevel::kError, [](std::string_view) {}));
  aggregator::IngestSession session(
      agg, aggregator::IngestLimits{.max_entries_per_report = 4096, .max_series_id = 4096});
  std::map<std::string, uint64_t> totals;
  size_t i = 0;
  while (i + 3 <= size) {
    const uint8_t step = data[i];
    const size_t len = data[i + 1] | (static_cast<size_t>(data[i + 2]) << 8);
    i += 3;
    if (len > size - i) break;
    lockstep::v1::ReportRequest msg;
    const bool parsed = msg.ParseFromArray(data + i, static_cast<int>(len));
    i += len;
    if (!parsed) continue;
    clock.advance(std::chrono::milliseconds(100) * step);
    lockstep::v1::ReportResponse ack;
    bool has_ack = false;
    if (session.handle(msg, clock.steady_now(), &ack, &has_ack)) break;
    if (has_ack && ack.acked_seq() != msg.report().seq()) std::abort();
    if (step % 16 == 15) agg.sweep();
    for (const auto& route : agg.routes()) {
      const uint64_t t = route->requests_total();
      uint64_t& seen = totals[route->key()];
      if (t < seen) std::abort();
      seen = t;
      if (route->in_flight() < 0 || route->held() < 0) std::abort();
      const double r = route->request_rate(clock.unix_ms(), 60'000);
      if (!(r >= 0)) std::abort();
    }
  }
  return 0;
}
