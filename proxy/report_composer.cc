#include "proxy/report_composer.h"

#include <algorithm>

#include "common/fnv.h"

namespace lockstep::proxy {

namespace v1 = lockstep::v1;

void SeriesHistory::record(int64_t now_ms, const std::vector<uint64_t>& cumulative) {
  if (buckets_ == 0) return;
  const int64_t g = granularity_ms_;
  const int64_t boundary = now_ms - ((now_ms % g) + g) % g;
  if (rows_.empty()) {
    rows_.push_back({boundary, cumulative});
    return;
  }
  const int64_t last = rows_.back().start_ms;
  if (boundary <= last) return;
  // Boundaries the reporter slept through keep the previous values: their requests land in the
  // bucket that ends at `boundary`.
  const int64_t skipped = std::min<int64_t>((boundary - last) / g - 1, buckets_);
  for (int64_t k = skipped; k >= 1; --k) {
    std::vector<uint64_t> prev = rows_.back().values;
    rows_.push_back({boundary - k * g, std::move(prev)});
  }
  rows_.push_back({boundary, cumulative});
  while (rows_.size() > static_cast<size_t>(buckets_) + 1) rows_.pop_front();
}

SeriesHistory::Cut SeriesHistory::cut(uint32_t series, uint64_t now_value) const {
  Cut c;
  if (rows_.empty()) {
    c.base = now_value;
    return c;
  }
  auto value_at = [&](size_t row) -> uint64_t {
    const auto& v = rows_[row].values;
    return series < v.size() ? v[series] : 0;
  };
  c.base = value_at(0);
  c.start_unix_ms = rows_.front().start_ms;
  c.counts.reserve(rows_.size());
  for (size_t j = 0; j + 1 < rows_.size(); ++j) {
    const uint64_t a = value_at(j), b = value_at(j + 1);
    c.counts.push_back(static_cast<uint32_t>(b > a ? b - a : 0));
  }
  const uint64_t last = value_at(rows_.size() - 1);
  c.counts.push_back(static_cast<uint32_t>(now_value > last ? now_value - last : 0));
  size_t lead = 0;
  while (lead < c.counts.size() && c.counts[lead] == 0) ++lead;
  if (lead == c.counts.size()) {
    c.counts.clear();
    c.base = now_value;
    c.start_unix_ms = 0;
    return c;
  }
  c.counts.erase(c.counts.begin(), c.counts.begin() + static_cast<std::ptrdiff_t>(lead));
  c.start_unix_ms += static_cast<int64_t>(lead) * granularity_ms_;
  return c;
}

void ReportComposer::compose(const std::vector<SeriesName>& names,
                             const std::vector<SeriesValues>& values, const SeriesHistory& history,
                             uint64_t route_table_version, bool urgent, bool force, int64_t now_ms,
                             uint64_t& next_seq, std::vector<v1::ReportRequest>& out) {
  const size_t first_index = out.size();
  v1::Report* r = nullptr;
  size_t entries = 0;
  auto room = [&](size_t need) {
    if (r == nullptr || entries + need > max_entries_) {
      r = out.emplace_back().mutable_report();
      r->set_seq(next_seq++);
      r->set_sent_unix_ms(now_ms);
      r->set_route_table_version(route_table_version);
      r->set_urgent(urgent);
      entries = 0;
    }
    entries += need;
  };
  auto sample = [&](size_t i) {
    auto* s = r->add_samples();
    s->set_id(static_cast<uint32_t>(i + 1));
    s->set_requests(values[i].requests);
    s->set_in_flight(values[i].in_flight);
    s->set_held(values[i].held);
  };
  auto define = [&](size_t i, uint64_t base) {
    auto* d = r->add_defs();
    d->set_id(static_cast<uint32_t>(i + 1));
    d->set_route(names[i].route);
    d->set_backend(names[i].backend);
    d->set_base_requests(base);
  };
  const size_t n = std::min(names.size(), values.size());
  if (!opened_) {
    opened_ = true;
    force = true;  // the first report opens the accounting even with no series at all
    for (size_t i = 0; i < n; ++i) {
      SeriesHistory::Cut cut = history.cut(static_cast<uint32_t>(i), values[i].requests);
      room(cut.counts.empty() ? 2 : 3);
      define(i, cut.base);
      if (!cut.counts.empty()) {
        auto* h = r->add_history();
        h->set_id(static_cast<uint32_t>(i + 1));
        h->set_start_unix_ms(cut.start_unix_ms);
        for (uint32_t c : cut.counts) h->add_counts(c);
      }
      sample(i);
      sent_.push_back(values[i]);
    }
  } else {
    for (size_t i = 0; i < sent_.size() && i < n; ++i) {
      if (values[i] == sent_[i]) continue;
      room(1);
      sample(i);
      sent_[i] = values[i];
    }
    // Series created while this stream was open started at 0 after it opened: base 0.
    for (size_t i = sent_.size(); i < n; ++i) {
      room(2);
      define(i, 0);
      sample(i);
      sent_.push_back(values[i]);
    }
  }
  if (route_table_version != last_version_) force = true;
  last_version_ = route_table_version;
  if (out.size() == first_index && force) room(0);
}

int64_t report_phase_ms(std::string_view proxy_id, int64_t interval_ms) {
  const int64_t spread = interval_ms / 4;
  if (spread <= 0) return 0;
  // A stable hash, so a proxy keeps its phase when it restarts.
  return static_cast<int64_t>(fnv1a(proxy_id) % static_cast<uint64_t>(spread));
}

}  // namespace lockstep::proxy
