#pragma once

// Small builders for ingest messages in tests.

#include <cstdint>
#include <initializer_list>
#include <string>

#include "lockstep/v1/ingest.pb.h"

namespace lockstep::aggregator::test {

inline lockstep::v1::ReportRequest hello(const std::string& proxy, uint64_t epoch,
                                         uint32_t granularity_ms = 1000) {
  lockstep::v1::ReportRequest m;
  m.mutable_hello()->set_proxy_id(proxy);
  m.mutable_hello()->set_boot_epoch(epoch);
  m.mutable_hello()->set_history_granularity_ms(granularity_ms);
  return m;
}

class ReportBuilder {
 public:
  explicit ReportBuilder(uint64_t seq) { msg_.mutable_report()->set_seq(seq); }
  ReportBuilder& def(uint32_t id, const std::string& route, const std::string& backend,
                     uint64_t base = 0) {
    auto* d = msg_.mutable_report()->add_defs();
    d->set_id(id);
    d->set_route(route);
    d->set_backend(backend);
    d->set_base_requests(base);
    return *this;
  }
  ReportBuilder& history(uint32_t id, int64_t start_ms, std::initializer_list<uint32_t> counts) {
    auto* h = msg_.mutable_report()->add_history();
    h->set_id(id);
    h->set_start_unix_ms(start_ms);
    for (uint32_t c : counts) h->add_counts(c);
    return *this;
  }
  ReportBuilder& sample(uint32_t id, uint64_t requests, uint32_t in_flight = 0, uint32_t held = 0) {
    auto* s = msg_.mutable_report()->add_samples();
    s->set_id(id);
    s->set_requests(requests);
    s->set_in_flight(in_flight);
    s->set_held(held);
    return *this;
  }
  ReportBuilder& version(uint64_t v) {
    msg_.mutable_report()->set_route_table_version(v);
    return *this;
  }
  const lockstep::v1::ReportRequest& msg() const { return msg_; }
  operator const lockstep::v1::ReportRequest&() const { return msg_; }

 private:
  lockstep::v1::ReportRequest msg_;
};

}  // namespace lockstep::aggregator::test
