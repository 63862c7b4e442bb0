#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/v1/ingest.pb.h"

namespace lockstep::proxy {

// What the reporter reads from the counters once per report tick, indexed by series index.
struct SeriesValues {
  uint64_t requests = 0;
  uint32_t in_flight = 0;
  uint32_t held = 0;
  bool operator==(const SeriesValues&) const = default;
};

struct SeriesName {
  std::string route;
  std::string backend;
};

// Cumulative request counts of every series at the start of each history bucket, recorded by the
// reporter thread as its ticks cross bucket boundaries (so the request path pays nothing for
// history). Requests between two recorded boundaries land in the bucket before the later one;
// with report ticks every 250 ms a request is misplaced by at most one tick near a boundary. The
// sum is always exact: base + sum(counts) equals the cumulative value when the history is cut.
class SeriesHistory {
 public:
  SeriesHistory(int64_t granularity_ms, uint32_t buckets)
      : granularity_ms_(granularity_ms), buckets_(buckets) {}

  // Records the values at every boundary crossed since the last call (at most `buckets`).
  void record(int64_t now_ms, const std::vector<uint64_t>& cumulative);

  struct Cut {
    uint64_t base = 0;            // cumulative value at start_unix_ms
    int64_t start_unix_ms = 0;    // aligned to the granularity
    std::vector<uint32_t> counts;  // per bucket; the last one is the partial current bucket
  };
  // The history of one series up to its cumulative value `now_value`. Leading empty buckets are
  // left out; an empty `counts` means no request in the covered span (base == now_value).
  Cut cut(uint32_t series, uint64_t now_value) const;

  int64_t granularity_ms() const { return granularity_ms_; }

 private:
  struct Row {
    int64_t start_ms;
    std::vector<uint64_t> values;  // shorter than the series count: later series were at 0
  };
  const int64_t granularity_ms_;
  const uint32_t buckets_;
  std::deque<Row> rows_;  // oldest first
};

// The per-stream side of the report protocol: which series ids this stream has defined and what
// it last sent, so a report carries definitions once, history once per series after (re)connect,
// and samples only for series that changed. One instance per open stream; a reconnect starts a
// new one. Reports are split so that none exceeds `max_entries` entries.
class ReportComposer {
 public:
  explicit ReportComposer(size_t max_entries = 20'000) : max_entries_(max_entries) {}

  // Appends the reports due now. The first call on a stream defines every series that exists
  // (base and history from `history`) and samples all of them; later calls define new series
  // (base 0: they were created while the stream was open) and sample the changed ones. At least
  // one report is produced when `force` is set (to acknowledge a route table or to report held
  // requests at once) or when anything changed. `next_seq` is advanced per report.
  void compose(const std::vector<SeriesName>& names, const std::vector<SeriesValues>& values,
               const SeriesHistory& history, uint64_t route_table_version, bool urgent, bool force,
               int64_t now_ms, uint64_t& next_seq, std::vector<lockstep::v1::ReportRequest>& out);

  bool opened() const { return opened_; }

 private:
  const size_t max_entries_;
  bool opened_ = false;
  uint64_t last_version_ = 0;
  std::vector<SeriesValues> sent_;  // by series index; size = series defined on this stream
};

// Where in each report interval a proxy's periodic reports fall: a stable hash of the proxy id
// over [0, interval/4), so a fleet's reports do not all reach the scaler at the same instant.
int64_t report_phase_ms(std::string_view proxy_id, int64_t interval_ms);

}  // namespace lockstep::proxy
