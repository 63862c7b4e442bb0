#include "aggregator/ingest_session.h"

#include <algorithm>

#include "common/dns_name.h"

namespace lockstep::aggregator {

namespace v1 = lockstep::v1;

bool valid_proxy_id(const std::string& id) {
  if (id.empty() || id.size() > 253) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Collects the rejects of one report into its ack (up to the listing limit) and the stats.
struct IngestSession::Rejects {
  Rejects(v1::ReportResponse* ack, IngestStats& stats, size_t max_listed)
      : ack(ack), stats(stats), max_listed(max_listed) {}
  void add(uint32_t series_id, RejectReason reason, std::string message) {
    stats.rejects[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    if (ack == nullptr) return;
    if (static_cast<size_t>(ack->rejects_size()) < max_listed) {
      auto* r = ack->add_rejects();
      r->set_series_id(series_id);
      r->set_reason(static_cast<v1::Reject::Reason>(reason));
      r->set_message(std::move(message));
    } else {
      ++unlisted;
    }
  }
  void finish() {
    if (ack != nullptr && unlisted > 0) {
      auto* r = ack->add_rejects();
      r->set_reason(v1::Reject::REASON_UNSPECIFIED);
      r->set_message(std::to_string(unlisted) + " more rejects in this report were not listed");
    }
  }
  v1::ReportResponse* ack;
  IngestStats& stats;
  size_t max_listed;
  size_t unlisted = 0;
};

namespace {
IngestLimits clamped(IngestLimits l) {
  l.max_gauge = std::min(l.max_gauge, ProxySeriesState::kMaxGauge);
  return l;
}
}  // namespace

IngestSession::IngestSession(Aggregator& aggregator, IngestLimits limits)
    : aggregator_(aggregator),
      limits_(clamped(limits)),
      writer_(aggregator.writer_epochs().register_writer()) {}

IngestSession::~IngestSession() {
  // One stream reference per defined slot (see apply_def).
  std::vector<Route*> refs;
  slots_.for_each([&](uint32_t i) { refs.push_back(&epoch_->series_of(epoch_->at(i)).route()); });
  aggregator_.release_stream_refs(refs);
  if (epoch_) aggregator_.close_stream(epoch_);
}

const std::string& IngestSession::proxy_id() const {
  static const std::string kNone;
  return epoch_ ? epoch_->proxy_id() : kNone;
}

uint64_t IngestSession::boot_epoch() const { return epoch_ ? epoch_->boot_epoch() : 0; }

std::optional<IngestError> IngestSession::handle(const v1::ReportRequest& message,
                                                 Clock::SteadyTime received,
                                                 v1::ReportResponse* ack, bool* has_ack) {
  auto error = dispatch(message, received, ack, has_ack);
  if (error) aggregator_.stats().streams_refused.fetch_add(1, std::memory_order_relaxed);
  return error;
}

std::optional<IngestError> IngestSession::dispatch(const v1::ReportRequest& message,
                                                   Clock::SteadyTime received,
                                                   v1::ReportResponse* ack, bool* has_ack) {
  *has_ack = false;
  switch (message.body_case()) {
    case v1::ReportRequest::kHello:
      if (said_hello()) {
        return IngestError{IngestError::Code::kInvalidArgument,
                           "hello: sent twice on one stream (only the first message is a hello)"};
      }
      return hello(message.hello());
    case v1::ReportRequest::kReport:
      if (!said_hello()) {
        return IngestError{IngestError::Code::kInvalidArgument,
                           "hello: the first message of a stream must carry hello"};
      }
      *has_ack = true;
      return report(message.report(), received, ack);
    case v1::ReportRequest::BODY_NOT_SET:
      break;
  }
  return IngestError{IngestError::Code::kInvalidArgument,
                     said_hello() ? "report: message carries neither hello nor report"
                                  : "hello: the first message of a stream must carry hello"};
}

std::optional<IngestError> IngestSession::hello(const v1::Hello& hello) {
  auto refuse = [&](IngestError::Code code, std::string msg) {
    return IngestError{code, std::move(msg)};
  };
  if (!valid_proxy_id(hello.proxy_id())) {
    return refuse(IngestError::Code::kInvalidArgument,
                  "hello.proxy_id: \"" + hello.proxy_id().substr(0, 64) +
                      "\" must be 1..253 characters of [A-Za-z0-9._:-]");
  }
  if (hello.boot_epoch() == 0) {
    return refuse(IngestError::Code::kInvalidArgument,
                  "hello.boot_epoch: must be > 0 (the process start time in ns)");
  }
  const uint32_t g = hello.history_granularity_ms() == 0 ? 1000 : hello.history_granularity_ms();
  if (g < 100 || g > 60'000) {
    return refuse(IngestError::Code::kInvalidArgument,
                  "hello.history_granularity_ms: " + std::to_string(g) +
                      " is outside [100, 60000]");
  }
  std::string why;
  if (!hello.fleet().empty() && !valid_route_key(hello.fleet(), &why)) {
    return refuse(IngestError::Code::kInvalidArgument,
                  "hello.fleet: \"" + hello.fleet().substr(0, 64) +
                      "\" must be \"namespace/name\" of the proxies' Deployment (" + why + ")");
  }
  auto epoch = aggregator_.open_stream(hello.proxy_id(), hello.boot_epoch(), &why, hello.fleet());
  if (!epoch) return refuse(IngestError::Code::kFailedPrecondition, why);
  epoch_ = std::move(epoch);
  history_granularity_ms_ = g;
  return std::nullopt;
}

std::optional<IngestError> IngestSession::report(const v1::Report& report,
                                                 Clock::SteadyTime received,
                                                 v1::ReportResponse* ack) {
  const size_t entries = static_cast<size_t>(report.defs_size()) + report.history_size() +
                         report.samples_size();
  auto& stats = aggregator_.stats();
  if (entries > limits_.max_entries_per_report) {
    return IngestError{IngestError::Code::kResourceExhausted,
                       "report: seq " + std::to_string(report.seq()) + " has " +
                           std::to_string(entries) + " entries, above the limit of " +
                           std::to_string(limits_.max_entries_per_report) +
                           " (ingest.max_entries_per_report): split it"};
  }
  const int64_t now_ms = aggregator_.clock().unix_ms();
  Rejects rejects(ack, stats, limits_.max_rejects_listed);
  const uint64_t gate_before = aggregator_.read_activity_gate();
  writer_->enter(aggregator_.writer_epochs());
  {
    std::lock_guard<std::mutex> lock(epoch_->apply_mutex());
    const bool fresh = epoch_->gauges_fresh(report.seq());
    epoch_->saw_seq(report.seq());
    if (report.defs_size() > 0) {
      // Size the id table once for the whole burst of definitions.
      uint32_t max_id = 0;
      for (const auto& d : report.defs()) {
        if (d.id() <= limits_.max_series_id) max_id = std::max(max_id, d.id());
      }
      slots_.reserve(max_id);
      if (report.history_size() > 0) {
        for (const auto& d : report.defs()) report_bases_.emplace_back(d.id(), d.base_requests());
        std::sort(report_bases_.begin(), report_bases_.end());
      }
    }
    for (int i = 0; i < report.defs_size(); ++i) apply_def(i, report.defs(i), rejects);
    for (int i = 0; i < report.history_size(); ++i) {
      apply_history(i, report.history(i), now_ms, rejects);
    }
    report_bases_.clear();
    if (report.defs_size() > 1000) epoch_->compact();
    // The requests of a sample happened before the report arrived: they belong to the bucket
    // holding the instant just before now (at a bucket boundary, the bucket that just ended).
    CreditClock clock(now_ms - 1, now_ms);
    for (int i = 0; i < report.samples_size(); ++i) {
      apply_sample(i, report.samples(i), fresh, clock, rejects);
    }
    // The fleet's sums move once per report, not per entry (one shared cache line).
    epoch_->add_fleet_gauges(fleet_d_in_flight_, fleet_d_held_);
    fleet_d_in_flight_ = fleet_d_held_ = 0;
  }
  writer_->exit();
  if (aggregator_.read_activity_gate() != gate_before) recheck_armed(report);
  signal_activity(received);
  rejects.finish();
  epoch_->route_table_version.store(report.route_table_version(), std::memory_order_relaxed);
  epoch_->last_report_unix_ms.store(now_ms, std::memory_order_relaxed);
  stats.reports.fetch_add(1, std::memory_order_relaxed);
  stats.entries.fetch_add(entries, std::memory_order_relaxed);
  if (ack != nullptr) ack->set_acked_seq(report.seq());
  return std::nullopt;
}

void IngestSession::apply_def(int index, const v1::SeriesDef& def, Rejects& rejects) {
  auto field = [index] { return "defs[" + std::to_string(index) + "]"; };
  const uint32_t id = def.id();
  if (id == 0 || id > limits_.max_series_id) {
    rejects.add(id, RejectReason::kValueOutOfRange,
                field() + ".id: " + std::to_string(id) + " is outside [1, " +
                    std::to_string(limits_.max_series_id) + "] (ingest.max_series_id)");
    return;
  }
  std::string why;
  if (!valid_route_key(def.route(), &why)) {
    rejects.add(id, RejectReason::kMalformedRoute, field() + ".route: " + why);
    return;
  }
  if (!is_dns1123_label(def.backend())) {
    rejects.add(id, RejectReason::kMalformedBackend,
                field() + ".backend: \"" + def.backend().substr(0, 64) +
                    "\" is not a DNS-1123 label (a Service name)");
    return;
  }
  if (ProxySeriesState* existing = slot(id)) {
    const RouteSeries* s = &epoch_->series_of(*existing);
    if (s->route().key() == def.route() && s->backend() == def.backend()) return;  // resent def
    rejects.add(id, RejectReason::kDuplicateSeriesId,
                field() + ".id: " + std::to_string(id) + " already names " + s->route().key() +
                    " backend " + s->backend() + " on this stream");
    return;
  }
  auto acquired = aggregator_.acquire_series(def.route(), def.backend());
  if (acquired.series == nullptr) {
    rejects.add(id, acquired.error, field() + ": " + acquired.why);
    return;
  }
  RouteSeries& series = *acquired.series;  // counted as a stream reference until the stream ends
  uint32_t state;
  if (const auto known = epoch_->find(series)) {
    // Known from an earlier stream of this process: continue from max(known, base). Requests
    // between the two happened before the proxy's history began: counted, but in no bucket.
    state = *known;
    ProxySeriesState& st = epoch_->at(state);
    if (def.base_requests() > st.last_requests) {
      series.credit_total(def.base_requests() - st.last_requests);
      st.last_requests = def.base_requests();
    }
  } else {
    // Unknown (the scaler restarted, or forgot this proxy): start at base; history may credit
    // from there.
    state = epoch_->create(series, def.base_requests());
  }
  slots_.set(id, state);
  series.route().touch(aggregator_.clock().unix_ms());
}

void IngestSession::apply_history(int index, const v1::SeriesHistory& h, int64_t now_ms,
                                  Rejects& rejects) {
  const std::string field = "history[" + std::to_string(index) + "]";  // history is rare
  const uint32_t id = h.id();
  ProxySeriesState* st = slot(id);
  if (st == nullptr) {
    rejects.add(id, RejectReason::kUnknownSeriesId,
                field + ".id: " + std::to_string(id) + " was not defined on this stream");
    return;
  }
  auto base_it = std::lower_bound(report_bases_.begin(), report_bases_.end(),
                                  std::pair<uint32_t, uint64_t>(id, 0));
  if (base_it == report_bases_.end() || base_it->first != id) {
    rejects.add(id, RejectReason::kHistoryInvalid,
                field + ": history must be in the same report as the series' definition");
    return;
  }
  const int64_t g = history_granularity_ms_;
  if (h.start_unix_ms() % g != 0) {
    rejects.add(id, RejectReason::kHistoryInvalid,
                field + ".start_unix_ms: " + std::to_string(h.start_unix_ms()) +
                    " is not aligned to history_granularity_ms " + std::to_string(g));
    return;
  }
  if (static_cast<uint32_t>(h.counts_size()) > limits_.max_history_buckets) {
    rejects.add(id, RejectReason::kHistoryInvalid,
                field + ".counts: " + std::to_string(h.counts_size()) +
                    " buckets, above the limit of " +
                    std::to_string(limits_.max_history_buckets));
    return;
  }
  const int64_t end_ms = h.start_unix_ms() + g * h.counts_size();
  if (end_ms > now_ms + g + limits_.max_clock_skew.count()) {
    rejects.add(id, RejectReason::kHistoryInvalid,
                field + ": ends at " + std::to_string(end_ms) + ", in the future (now " +
                    std::to_string(now_ms) + ")");
    return;
  }
  RouteSeries& series = epoch_->series_of(*st);
  Route& route = series.route();
  const int64_t ring_g = route.shape().granularity_ms;
  uint64_t c = base_it->second;
  bool credited = false;
  for (int i = 0; i < h.counts_size(); ++i) {
    const uint64_t next = c + h.counts(i);
    const uint64_t lo = std::max(c, st->last_requests);
    if (next > lo) {
      // Spread the bucket's requests over the ring buckets it covers.
      const uint64_t n = next - lo;
      const int64_t start = h.start_unix_ms() + g * i;
      const int64_t pieces = g > ring_g ? (g + ring_g - 1) / ring_g : 1;
      for (int64_t p = 0; p < pieces; ++p) {
        const uint64_t share = n / pieces + (static_cast<uint64_t>(p) < n % pieces ? 1 : 0);
        const int64_t at = start + p * ring_g;
        if (series.credit(at, now_ms, share)) route.observed_at(at - at % ring_g);
      }
      credited = true;
    }
    c = next;
  }
  st->last_requests = std::max(st->last_requests, c);
  if (credited) {
    route.touch(now_ms);
    if (route.armed()) armed_routes_.push_back(&route);
  }
}

void IngestSession::apply_sample(int index, const v1::SeriesSample& s, bool gauges_fresh,
                                 CreditClock& clock, Rejects& rejects) {
  const uint32_t id = s.id();
  ProxySeriesState* st = slot(id);
  if (st == nullptr) [[unlikely]] {
    rejects.add(id, RejectReason::kUnknownSeriesId,
                "samples[" + std::to_string(index) + "].id: " + std::to_string(id) +
                    " was not defined on this stream");
    return;
  }
  if (s.in_flight() > limits_.max_gauge || s.held() > limits_.max_gauge) [[unlikely]] {
    rejects.add(id, RejectReason::kValueOutOfRange,
                "samples[" + std::to_string(index) + "]." +
                    (s.in_flight() > limits_.max_gauge ? "in_flight: " : "held: ") +
                    std::to_string(std::max(s.in_flight(), s.held())) + " is above " +
                    std::to_string(limits_.max_gauge) + " (ingest.max_gauge)");
    return;
  }
  RouteSeries& series = epoch_->series_of(*st);
  uint64_t delta = 0;
  if (s.requests() > st->last_requests) {
    delta = s.requests() - st->last_requests;
    if (delta > limits_.max_requests_delta) [[unlikely]] {
      rejects.add(id, RejectReason::kValueOutOfRange,
                  "samples[" + std::to_string(index) + "].requests: grew by " +
                      std::to_string(delta) + " since the last applied value, above " +
                      std::to_string(limits_.max_requests_delta) +
                      " (ingest.max_requests_delta)");
      return;
    }
    st->last_requests = s.requests();
    series.credit(clock, delta);
  }
  if (gauges_fresh) {
    const int64_t d_in = static_cast<int64_t>(s.in_flight()) - st->in_flight();
    const int64_t d_held = static_cast<int64_t>(s.held()) - st->held();
    if (d_in != 0 || d_held != 0) {
      series.add_gauges(d_in, d_held);
      fleet_d_in_flight_ += d_in;
      fleet_d_held_ += d_held;
      st->set_gauges(s.in_flight(), s.held());
    }
  }
  if (delta > 0 || st->in_flight() > 0 || st->held() > 0) {
    Route& route = series.route();
    route.touch(clock.now_ms);
    if (route.armed()) [[unlikely]] armed_routes_.push_back(&route);  // see read_activity_gate
  }
}

void IngestSession::recheck_armed(const v1::Report& report) {
  // The scaler armed routes while this report was applied: check every route it touched (a
  // superset of the active ones is fine).
  for (const auto& s : report.samples()) {
    ProxySeriesState* st = slot(s.id());
    if (st == nullptr) continue;
    Route& route = epoch_->series_of(*st).route();
    if (route.armed()) armed_routes_.push_back(&route);
  }
  for (const auto& h : report.history()) {
    ProxySeriesState* st = slot(h.id());
    if (st == nullptr) continue;
    Route& route = epoch_->series_of(*st).route();
    if (route.armed()) armed_routes_.push_back(&route);
  }
}

void IngestSession::signal_activity(Clock::SteadyTime received) {
  if (armed_routes_.empty()) return;
  ActivityListener* listener = aggregator_.activity_listener();
  for (Route* route : armed_routes_) {
    if (route->disarm() && listener != nullptr) {
      route->note_signal(received);
      listener->on_route_activity(*route, received);
    }
  }
  armed_routes_.clear();
}

}  // namespace lockstep::aggregator
