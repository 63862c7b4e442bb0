#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <algorithm>
#include <vector>

#include "aggregator/aggregator.h"
#include "lockstep/v1/ingest.pb.h"

namespace lockstep::aggregator {

// Limits on what one proxy stream may send. Each violation is a per-entry Reject (the stream
// goes on), except max_entries_per_report, which ends the stream (the proxy must split reports).
struct IngestLimits {
  size_t max_entries_per_report = 100'000;  // defs + history + samples
  uint32_t max_series_id = 1u << 20;        // ids index a per-stream table: keep them dense
  uint32_t max_gauge = 1'000'000;  // in_flight and held, per proxy and series (<= 2^20-1)
  uint64_t max_requests_delta = 1'000'000'000;  // growth of one series between two reports
  uint32_t max_history_buckets = 3600;
  std::chrono::milliseconds max_clock_skew{5000};  // how far a history may reach past "now"
  size_t max_rejects_listed = 256;  // per ack; further ones are counted and summarised
};

// A stream's table from the proxy's series id to the ProxyEpoch state index. A proxy numbers its
// series 1, 2, 3, ... as it defines them, and a new epoch creates their states in that order, so
// the table is usually "state = id + a constant" over 1..n: kept as that run (no memory per id)
// until a definition breaks it, then as a dense vector (4 bytes per id; 4 MiB at 10k routes x
// 100 streams). Not thread-safe.
class StreamSlots {
 public:
  static constexpr uint32_t kNone = ~0u;

  uint32_t get(uint32_t id) const {
    if (id - 1 < run_length_) return static_cast<uint32_t>(static_cast<int64_t>(id) + run_delta_);
    return id < table_.size() && table_[id] != 0 ? table_[id] - 1 : kNone;
  }
  // `id` must not be defined yet.
  void set(uint32_t id, uint32_t state) {
    const int64_t delta = static_cast<int64_t>(state) - id;
    if (!materialized_ && id == run_length_ + 1 && (run_length_ == 0 || delta == run_delta_)) {
      run_delta_ = delta;
      ++run_length_;
      return;
    }
    materialize(id);
    table_[id] = state + 1;
  }
  // Sizes the table for a burst of definitions up to max_id (no-op while a run).
  void reserve(uint32_t max_id) {
    if (materialized_ && max_id >= table_.size()) table_.resize(size_t{max_id} + 1, 0);
  }
  bool is_run() const { return !materialized_; }
  template <typename F>
  void for_each(F&& f) const {
    for (uint32_t id = 1; id <= run_length_; ++id) f(get(id));
    for (uint32_t v : table_) {
      if (v != 0) f(v - 1);
    }
  }

 private:
  void materialize(uint32_t id) {
    if (!materialized_) {
      table_.assign(std::max<size_t>(size_t{id}, run_length_) + 1, 0);
      for (uint32_t i = 1; i <= run_length_; ++i) {
        table_[i] = static_cast<uint32_t>(static_cast<int64_t>(i) + run_delta_) + 1;
      }
      run_length_ = 0;
      materialized_ = true;
    }
    if (id >= table_.size()) table_.resize(size_t{id} + 1, 0);
  }

  bool materialized_ = false;
  uint32_t run_length_ = 0;  // ids 1..run_length_ map to id + run_delta_
  int64_t run_delta_ = 0;
  std::vector<uint32_t> table_;  // materialized: state index + 1 by id; 0: not defined
};

// Why a stream is ended (the gRPC front end maps this to a status code).
struct IngestError {
  enum class Code { kInvalidArgument, kFailedPrecondition, kResourceExhausted };
  Code code;
  std::string message;  // names the field and the rule
};

// The state of one proxy->scaler report stream, independent of the transport: validates the
// hello, keeps the stream's series-id table (id -> the proxy's per-series state, which points at
// the route's series) and applies each report exactly once. Not thread-safe: one stream, one
// caller at a time (a gRPC reactor's reads are sequential).
//
// Per entry the hot path is: one bounds-checked vector lookup, a compare of the cumulative count
// with the last applied one, a CAS on the ring slot, and relaxed adds for the total and the
// gauges. No strings, no maps, no locks (the proxy's apply mutex is taken once per report).
class IngestSession {
 public:
  IngestSession(Aggregator& aggregator, IngestLimits limits);
  ~IngestSession();
  IngestSession(const IngestSession&) = delete;
  IngestSession& operator=(const IngestSession&) = delete;

  // Handles one message: the first must be a hello, every later one a report. Fills `ack` (and
  // sets *has_ack) for a report. An error means: end the stream with it.
  std::optional<IngestError> handle(const lockstep::v1::ReportRequest& message,
                                    Clock::SteadyTime received, lockstep::v1::ReportResponse* ack,
                                    bool* has_ack);

  // The two halves of handle(), without its accounting of refused streams.
  std::optional<IngestError> hello(const lockstep::v1::Hello& hello);
  std::optional<IngestError> report(const lockstep::v1::Report& report,
                                    Clock::SteadyTime received, lockstep::v1::ReportResponse* ack);

  bool said_hello() const { return epoch_ != nullptr; }
  ProxySeriesState* slot(uint32_t id) const {
    const uint32_t state = slots_.get(id);
    return state != StreamSlots::kNone ? &epoch_->at(state) : nullptr;
  }
  const StreamSlots& slots() const { return slots_; }
  const std::string& proxy_id() const;
  uint64_t boot_epoch() const;

 private:
  struct Rejects;
  std::optional<IngestError> dispatch(const lockstep::v1::ReportRequest& message,
                                      Clock::SteadyTime received,
                                      lockstep::v1::ReportResponse* ack, bool* has_ack);
  void apply_def(int index, const lockstep::v1::SeriesDef& def, Rejects& rejects);
  void apply_history(int index, const lockstep::v1::SeriesHistory& h, int64_t now_ms,
                     Rejects& rejects);
  void apply_sample(int index, const lockstep::v1::SeriesSample& s, bool gauges_fresh,
                    CreditClock& clock, Rejects& rejects);
  void recheck_armed(const lockstep::v1::Report& report);
  // Wakes the activation listener for armed routes this report made active.
  void signal_activity(Clock::SteadyTime received);

  Aggregator& aggregator_;
  const IngestLimits limits_;
  std::shared_ptr<WriterEpochs::Slot> writer_;
  std::shared_ptr<ProxyEpoch> epoch_;
  uint32_t history_granularity_ms_ = 1000;
  StreamSlots slots_;  // the proxy's series id -> ProxyEpoch state index
  // (id, base_requests) of the definitions in the report being applied, sorted, for its history.
  std::vector<std::pair<uint32_t, uint64_t>> report_bases_;
  // Armed routes that got requests or non-zero gauges in the report being applied.
  std::vector<Route*> armed_routes_;
  // Net gauge change of the report being applied, for the proxy's fleet.
  int64_t fleet_d_in_flight_ = 0;
  int64_t fleet_d_held_ = 0;
};

// Validates a proxy id: [A-Za-z0-9._:-], 1..253 bytes.
bool valid_proxy_id(const std::string& id);

}  // namespace lockstep::aggregator
