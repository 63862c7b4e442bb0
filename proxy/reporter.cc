#include "proxy/reporter.h"

#include <boost/asio/post.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <future>

#include "lockstep/v1/ingest.grpc.pb.h"

namespace lockstep::proxy {

namespace asio = boost::asio;
namespace v1 = lockstep::v1;
using boost::system::error_code;

namespace {

constexpr auto kHeartbeat = std::chrono::seconds(5);
constexpr size_t kMaxRejectLogs = 20;

int64_t steady_ns(const Clock& c) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.steady_now().time_since_epoch())
      .count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Changes whenever one of the TLS files is rewritten (cert-manager renews in place).
std::string tls_stamp(const ProxySettings::ScalerTls& tls) {
  std::string stamp;
  for (const auto* path : {&tls.ca_file, &tls.cert_file, &tls.key_file}) {
    if (path->empty()) continue;
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(*path, ec);
    const auto size = std::filesystem::file_size(*path, ec);
    stamp += std::to_string(t.time_since_epoch().count()) + ":" + std::to_string(size) + ";";
  }
  return stamp;
}

std::shared_ptr<grpc::ChannelCredentials> load_credentials(const ProxySettings::ScalerTls& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = read_file(tls.ca_file);
  if (!tls.cert_file.empty()) {
    opts.pem_cert_chain = read_file(tls.cert_file);
    opts.pem_private_key = read_file(tls.key_file);
  }
  return grpc::SslCredentials(opts);
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& target, const ProxySettings& s,
                                            const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  // Replicas found by DNS are dialled by IP; their certificate names the service.
  if (s.scaler_tls.enabled() && !s.scaler_tls.server_name.empty()) {
    args.SetSslTargetNameOverride(s.scaler_tls.server_name);
  }
  // Detect a dead replica without traffic: HTTP/2 pings every 10 s, 5 s to answer.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   s.reconnect_backoff_initial)
                                   .count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(s.reconnect_backoff_max)
                      .count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   s.reconnect_backoff_initial)
                                   .count()));
  // One channel per replica, never shared with another Reporter (tests run several).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, creds, args);
}

}  // namespace

std::string grpc_target_for(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return host_port;
  if (addr.is_v4()) return "ipv4:" + host + ":" + port;
  return "ipv6:[" + host + "]:" + port;
}

// One Report stream (a gRPC callback reactor). Reactions only post to the reporter thread; all
// state lives there. A hold keeps the call alive until the reporter thread has seen the read
// side fail, so no StartWrite can race with the end of the call.
class Reporter::Call final : public grpc::ClientBidiReactor<v1::ReportRequest, v1::ReportResponse> {
 public:
  Call(Reporter& r, std::string name, uint64_t gen) : r_(r), name_(std::move(name)), gen_(gen) {}

  void start(v1::Ingest::Stub& stub, std::chrono::system_clock::time_point deadline) {
    ctx_.set_deadline(deadline);
    stub.async()->Report(&ctx_, this);
    AddHold();
    StartRead(&response_);
    StartCall();
  }
  void write(v1::ReportRequest msg) {
    request_ = std::move(msg);
    StartWrite(&request_);
  }
  void cancel() { ctx_.TryCancel(); }
  void release() {
    if (!released_) {
      released_ = true;
      RemoveHold();
    }
  }
  // The read side failed and the hold is gone: gRPC may finish the call (and destroy its
  // stream) at any moment, so no write may start any more.
  bool ending() const { return released_; }
  const v1::ReportRequest& last_written() const { return request_; }

  void OnWriteDone(bool ok) override {
    asio::post(r_.ioc_, [r = &r_, n = name_, g = gen_, ok] { r->on_write_done(n, g, ok); });
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      asio::post(r_.ioc_, [r = &r_, n = name_, g = gen_] { r->on_read_failed(n, g); });
      return;
    }
    auto copy = std::make_shared<v1::ReportResponse>(std::move(response_));
    response_.Clear();
    StartRead(&response_);
    asio::post(r_.ioc_, [r = &r_, n = name_, g = gen_, copy] { r->on_ack(n, g, copy.get()); });
  }
  void OnDone(const grpc::Status& s) override {
    asio::post(r_.ioc_, [r = &r_, n = name_, g = gen_, code = static_cast<int>(s.error_code()),
                         msg = s.error_message()] { r->on_done(n, g, code, msg); });
  }

 private:
  Reporter& r_;
  const std::string name_;
  const uint64_t gen_;
  grpc::ClientContext ctx_;
  v1::ReportRequest request_;
  v1::ReportResponse response_;
  bool released_ = false;
};

struct Reporter::Link {
  std::string name;
  std::string target;  // gRPC target of the channel
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Ingest::Stub> stub;
  std::unique_ptr<Call> call;  // the live stream, if any
  uint64_t gen = 0;
  std::optional<ReportComposer> composer;
  std::deque<v1::ReportRequest> queue;
  bool writing = false;
  bool pending = false;   // a report became due while writing: compose after the queue drains
  bool pending_urgent = false;
  bool pending_force = false;
  bool acked = false;     // this stream has received an ack
  bool removed = false;   // the target vanished: drop after the call ends
  uint64_t last_written_seq = 0;
  uint64_t last_acked_seq = 0;
  int64_t unacked_since_ns = 0;  // 0: nothing unacknowledged
  int64_t urgent_raised_ns = 0;  // latency start of the urgent report being written
  Duration backoff{};
  std::unique_ptr<asio::steady_timer> retry_timer;
  size_t reject_logs = 0;
  uint64_t failures = 0;  // consecutive streams that ended without an ack
  int64_t last_failure_log_ns = 0;
  prometheus::Gauge* connected = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Counter* acks = nullptr;
  prometheus::Counter* failed = nullptr;
};

Reporter::Reporter(const ProxySettings& settings, Identity identity, TrafficCounters& counters,
                   const std::atomic<uint64_t>& applied_version, ReportTrigger& trigger,
                   const Clock& clock, prometheus::Registry& registry, Logger log,
                   ScalerLookup lookup)
    : settings_(settings),
      identity_(std::move(identity)),
      counters_(counters),
      applied_version_(applied_version),
      trigger_(trigger),
      clock_(clock),
      log_(std::move(log)),
      lookup_(std::move(lookup)),
      connected_family_(prometheus::BuildGauge()
                            .Name("lockstep_proxy_scaler_connected")
                            .Help("1 while the report stream to this scaler replica is open and "
                                  "acknowledged.")
                            .Register(registry)),
      reports_family_(prometheus::BuildCounter()
                          .Name("lockstep_proxy_reports_total")
                          .Help("Reports per scaler replica: sent (written), acked, failed "
                                "(stream broke with reports unacknowledged).")
                          .Register(registry)),
      rejects_family_(prometheus::BuildCounter()
                          .Name("lockstep_proxy_report_rejects_total")
                          .Help("Report entries a scaler refused, by reason.")
                          .Register(registry)),
      urgent_delay_(prometheus::BuildHistogram()
                        .Name("lockstep_proxy_urgent_report_delay_seconds")
                        .Help("From a request held for a cold backend to the urgent report "
                              "being handed to gRPC.")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01, 0.025, 0.05, 0.1})),
      history_(std::chrono::duration_cast<std::chrono::milliseconds>(settings.history_granularity)
                   .count(),
               static_cast<uint32_t>(settings.history_length / settings.history_granularity)),
      rng_(identity_.boot_epoch ^ 0x5851f42d4c957f2dull) {}

Reporter::~Reporter() {
  if (thread_.joinable()) {
    asio::post(ioc_, [this] {
      stopping_ = true;
      tick_timer_.cancel();
      resolve_timer_.cancel();
      tls_timer_.cancel();
      resolver_.cancel();
      error_code ec;
      trigger_fd_.cancel(ec);
      for (auto& [name, link] : links_) {
        if (link->retry_timer) link->retry_timer->cancel();
        if (link->call) link->call->cancel();
      }
      maybe_finish_stop();
    });
    thread_.join();
  }
  // The eventfd belongs to the trigger.
  if (trigger_fd_.is_open()) trigger_fd_.release();
}

void Reporter::maybe_finish_stop() {
  if (!stopping_) return;
  for (auto& [name, link] : links_) {
    if (link->call) return;  // wait for OnDone of every call
  }
  error_code ec;
  trigger_fd_.cancel(ec);
  guard_.reset();
}

void Reporter::start() {
  credentials_ = load_credentials(settings_.scaler_tls);
  tls_stamp_ = tls_stamp(settings_.scaler_tls);
  trigger_fd_.assign(trigger_.fd());
  guard_.emplace(ioc_.get_executor());
  asio::post(ioc_, [this] {
    if (!settings_.scaler_dns.empty()) {
      resolve();
    } else {
      std::vector<std::pair<std::string, std::string>> targets;
      for (const auto& s : settings_.scalers) targets.emplace_back(s, grpc_target_for(s));
      set_targets(targets);
    }
    read_counters();
    arm_tick();
    wait_trigger();
    if (settings_.scaler_tls.enabled()) arm_tls_check();
  });
  thread_ = std::thread([this] { ioc_.run(); });
}

Duration Reporter::jittered(Duration d) {
  // Full jitter in [d/2, d]: replicas restarted together are not hit in lockstep.
  rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
  const double f = 0.5 + 0.5 * static_cast<double>(rng_ >> 11) / static_cast<double>(1ull << 53);
  return Duration(static_cast<int64_t>(static_cast<double>(d.count()) * f));
}

void Reporter::resolve() {
  if (stopping_) return;
  const std::string& dns = settings_.scaler_dns;
  auto colon = dns.rfind(':');
  std::string host = dns.substr(0, colon), port = dns.substr(colon + 1);
  if (lookup_) {
    std::vector<asio::ip::tcp::endpoint> endpoints;
    const error_code ec = lookup_(host, port, endpoints);
    on_resolved(ec, endpoints);
    return;
  }
  resolver_.async_resolve(
      host, port, [this](error_code ec, asio::ip::tcp::resolver::results_type results) {
        if (stopping_) return;
        std::vector<asio::ip::tcp::endpoint> endpoints;
        for (const auto& entry : results) endpoints.push_back(entry.endpoint());
        on_resolved(ec, endpoints);
      });
}

void Reporter::on_resolved(error_code ec, const std::vector<asio::ip::tcp::endpoint>& endpoints) {
  if (ec) {
    log_.warn("scaler DNS lookup failed; keeping the previous replicas",
              {{"scalerDns", settings_.scaler_dns}, {"error", ec.message()}});
  } else {
    std::vector<std::pair<std::string, std::string>> targets;
    for (const auto& ep : endpoints) {
      std::string name = ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                              : ep.address().to_string();
      name += ":" + std::to_string(ep.port());
      bool dup = false;
      for (const auto& t : targets) dup = dup || t.first == name;
      if (!dup) targets.emplace_back(name, grpc_target_for(name));
    }
    if (targets.empty()) {
      log_.warn("scaler DNS name has no addresses; keeping the previous replicas",
                {{"scalerDns", settings_.scaler_dns}});
    } else {
      set_targets(targets);
    }
  }
  resolve_timer_.expires_after(settings_.scaler_resolve_interval);
  resolve_timer_.async_wait([this](error_code e) {
    if (!e) resolve();
  });
}

void Reporter::set_targets(const std::vector<std::pair<std::string, std::string>>& targets) {
  for (auto& [name, link] : links_) {
    bool keep = false;
    for (const auto& t : targets) keep = keep || t.first == name;
    if (!keep && !link->removed) {
      link->removed = true;
      log_.info("scaler replica gone", {{"scaler", name}});
      if (link->retry_timer) link->retry_timer->cancel();
      if (link->call) link->call->cancel();
    }
  }
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second->removed && !it->second->call) {
      connected_family_.Remove(it->second->connected);
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, target] : targets) {
    if (links_.count(name) != 0) continue;
    auto link = std::make_unique<Link>();
    link->name = name;
    link->target = target;
    link->channel = make_channel(target, settings_, credentials_);
    link->stub = v1::Ingest::NewStub(link->channel);
    link->backoff = settings_.reconnect_backoff_initial;
    link->retry_timer = std::make_unique<asio::steady_timer>(ioc_);
    link->connected = &connected_family_.Add({{"scaler", name}});
    link->sent = &reports_family_.Add({{"scaler", name}, {"result", "sent"}});
    link->acks = &reports_family_.Add({{"scaler", name}, {"result", "acked"}});
    link->failed = &reports_family_.Add({{"scaler", name}, {"result", "failed"}});
    log_.info("scaler replica added", {{"scaler", name}, {"target", target}});
    Link& l = *link;
    links_.emplace(name, std::move(link));
    open(l);
  }
  publish_status();
}

void Reporter::open(Link& link) {
  if (stopping_ || link.removed) return;
  link.gen = next_gen_++;
  link.call = std::make_unique<Call>(*this, link.name, link.gen);
  link.composer.emplace();
  link.queue.clear();
  link.writing = false;
  link.pending = false;
  link.acked = false;
  link.unacked_since_ns = 0;
  link.last_written_seq = 0;
  link.last_acked_seq = 0;
  v1::ReportRequest hello;
  hello.mutable_hello()->set_proxy_id(identity_.proxy_id);
  hello.mutable_hello()->set_boot_epoch(identity_.boot_epoch);
  hello.mutable_hello()->set_fleet(settings_.fleet);
  hello.mutable_hello()->set_history_granularity_ms(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(settings_.history_granularity).count()));
  link.queue.push_back(std::move(hello));
  const auto lifetime =
      std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.scaler_stream_lifetime);
  link.call->start(*link.stub, std::chrono::system_clock::now() + lifetime);
  // The opening report (definitions, history, every sample) follows the hello at once.
  read_counters();
  compose_and_send(link, false, true);
}

void Reporter::schedule_reconnect(Link& link, bool failed) {
  if (stopping_ || link.removed) return;
  Duration delay{};
  if (failed) {
    delay = jittered(link.backoff);
    link.backoff = std::min(settings_.reconnect_backoff_max, link.backoff * 2);
  }
  link.retry_timer->expires_after(delay);
  link.retry_timer->async_wait([this, name = link.name](error_code ec) {
    if (ec || stopping_) return;
    auto it = links_.find(name);
    if (it != links_.end() && !it->second->call) open(*it->second);
  });
}

void Reporter::read_counters() {
  if (counters_.series_count() != series_.size()) {
    series_ = counters_.all_series();
    for (size_t i = names_.size(); i < series_.size(); ++i) {
      names_.push_back({series_[i]->route().key(), series_[i]->backend()});
    }
  }
  values_.resize(series_.size());
  cumulative_.resize(series_.size());
  for (size_t i = 0; i < series_.size(); ++i) {
    const SeriesCounters& s = *series_[i];
    values_[i].requests = s.requests();
    values_[i].in_flight = static_cast<uint32_t>(std::min<int64_t>(s.in_flight(), UINT32_MAX));
    values_[i].held = static_cast<uint32_t>(std::min<int64_t>(s.held(), UINT32_MAX));
    cumulative_[i] = values_[i].requests;
  }
  history_.record(clock_.unix_ms(), cumulative_);
}

void Reporter::compose_and_send(Link& link, bool urgent, bool force) {
  if (!link.call || !link.composer) return;
  if (link.writing || !link.queue.empty()) {
    // Reports are cumulative: one composed after the queue drains carries everything.
    link.pending = true;
    link.pending_urgent = link.pending_urgent || urgent;
    link.pending_force = link.pending_force || force;
    send_next(link);
    return;
  }
  std::vector<v1::ReportRequest> out;
  link.composer->compose(names_, values_, history_, applied_version_.load(std::memory_order_acquire),
                         urgent, force, clock_.unix_ms(), next_seq_, out);
  for (auto& m : out) link.queue.push_back(std::move(m));
  if (urgent && !out.empty()) link.urgent_raised_ns = trigger_.urgent_raised_ns();
  send_next(link);
}

void Reporter::send_next(Link& link) {
  if (link.writing || link.queue.empty() || !link.call || link.call->ending()) return;
  link.writing = true;
  v1::ReportRequest msg = std::move(link.queue.front());
  link.queue.pop_front();
  const bool urgent = msg.has_report() && msg.report().urgent();
  if (msg.has_report()) {
    link.last_written_seq = msg.report().seq();
    if (link.unacked_since_ns == 0) link.unacked_since_ns = steady_ns(clock_);
  }
  link.call->write(std::move(msg));
  if (urgent && link.urgent_raised_ns != 0) {
    const int64_t d = steady_ns(clock_) - link.urgent_raised_ns;
    urgent_delay_.Observe(static_cast<double>(std::max<int64_t>(d, 0)) * 1e-9);
    link.urgent_raised_ns = 0;
  }
}

void Reporter::on_write_done(const std::string& name, uint64_t gen, bool ok) {
  auto it = links_.find(name);
  if (it == links_.end() || it->second->gen != gen || !it->second->call) return;
  Link& link = *it->second;
  link.writing = false;
  if (!ok) return;  // the stream is ending; on_read_failed/on_done follow
  if (link.call->last_written().has_report()) link.sent->Increment();
  if (!link.queue.empty()) {
    send_next(link);
  } else if (link.pending) {
    const bool urgent = link.pending_urgent;
    const bool force = link.pending_force;
    link.pending = false;
    link.pending_urgent = false;
    link.pending_force = false;
    read_counters();
    compose_and_send(link, urgent, force);
  }
}

void Reporter::on_ack(const std::string& name, uint64_t gen, const void* response) {
  auto it = links_.find(name);
  if (it == links_.end() || it->second->gen != gen) return;
  Link& link = *it->second;
  const auto& ack = *static_cast<const v1::ReportResponse*>(response);
  link.last_acked_seq = std::max(link.last_acked_seq, ack.acked_seq());
  link.unacked_since_ns = link.last_acked_seq >= link.last_written_seq ? 0 : steady_ns(clock_);
  link.acks->Increment();
  if (!link.acked) {
    link.acked = true;
    link.backoff = settings_.reconnect_backoff_initial;
    link.connected->Set(1);
    log_.info("report stream open", {{"scaler", name},
                                      {"after_failures", std::to_string(link.failures)}});
    link.failures = 0;
    publish_status();
  }
  for (const auto& rej : ack.rejects()) {
    const std::string reason = v1::Reject::Reason_Name(rej.reason());
    rejects_family_.Add({{"reason", reason.empty() ? "UNKNOWN" : reason}}).Increment();
    if (link.reject_logs < kMaxRejectLogs) {
      ++link.reject_logs;
      log_.warn("scaler rejected a report entry",
                {{"scaler", name}, {"reason", reason}, {"message", rej.message()}});
    }
  }
  {
    std::lock_guard lock(status_mu_);
    auto w = flush_wait_.find(name);
    if (w != flush_wait_.end() && link.last_acked_seq >= w->second) {
      flush_wait_.erase(w);
      flush_cv_.notify_all();
    }
  }
}

void Reporter::on_read_failed(const std::string& name, uint64_t gen) {
  auto it = links_.find(name);
  if (it == links_.end() || it->second->gen != gen || !it->second->call) return;
  // No write is started after this point for this call: the hold can go.
  it->second->call->release();
}

void Reporter::on_done(const std::string& name, uint64_t gen, int code, const std::string& message) {
  auto it = links_.find(name);
  if (it == links_.end() || it->second->gen != gen) return;
  Link& link = *it->second;
  link.call.reset();
  link.composer.reset();
  link.queue.clear();
  link.writing = false;
  const bool had_ack = link.acked;
  if (link.unacked_since_ns != 0) link.failed->Increment();
  link.acked = false;
  link.connected->Set(0);
  {
    std::lock_guard lock(status_mu_);
    if (flush_wait_.erase(name) != 0) flush_cv_.notify_all();
  }
  publish_status();
  if (stopping_) {
    maybe_finish_stop();
    return;
  }
  if (link.removed) {
    connected_family_.Remove(link.connected);
    links_.erase(it);
    publish_status();
    return;
  }
  const bool lifetime_over = code == grpc::StatusCode::DEADLINE_EXCEEDED && had_ack;
  if (!lifetime_over) {
    // A replica that stays down is logged when it goes, then once a minute, not per retry.
    ++link.failures;
    const int64_t now = steady_ns(clock_);
    if (link.failures == 1 || now - link.last_failure_log_ns >= 60'000'000'000) {
      link.last_failure_log_ns = now;
      log_.warn("report stream ended; reconnecting with backoff",
                {{"scaler", name}, {"code", std::to_string(code)}, {"message", message},
                 {"failures", std::to_string(link.failures)}});
    }
  }
  schedule_reconnect(link, !lifetime_over && !(had_ack && code == grpc::StatusCode::OK));
}

void Reporter::arm_tls_check() {
  tls_timer_.expires_after(settings_.scaler_resolve_interval);
  tls_timer_.async_wait([this](error_code ec) {
    if (ec || stopping_) return;
    const std::string stamp = tls_stamp(settings_.scaler_tls);
    if (stamp != tls_stamp_) {
      tls_stamp_ = stamp;
      credentials_ = load_credentials(settings_.scaler_tls);
      log_.info("scaler TLS files changed; reconnecting with the new ones");
      for (auto& [name, link] : links_) {
        link->channel = make_channel(link->target, settings_, credentials_);
        link->stub = v1::Ingest::NewStub(link->channel);
        if (link->call) link->call->cancel();
      }
      publish_status();
    }
    arm_tls_check();
  });
}

void Reporter::arm_tick() {
  const int64_t interval_ms =
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(
                               settings_.report_interval)
                               .count());
  // Ticks fall at this proxy's phase past each multiple of the interval in wall time: history
  // boundaries are crossed right before a tick, and a fleet's reports reach the scaler spread
  // over the first quarter of the interval instead of all in the same millisecond.
  const int64_t phase = report_phase_ms(identity_.proxy_id, interval_ms);
  const int64_t now = clock_.unix_ms();
  int64_t delay = interval_ms - ((now - phase) % interval_ms + interval_ms) % interval_ms;
  if (delay <= 0) delay = interval_ms;
  tick_timer_.expires_after(std::chrono::milliseconds(delay));
  tick_timer_.async_wait([this](error_code ec) {
    if (ec || stopping_) return;
    on_tick();
    arm_tick();
  });
}

void Reporter::on_tick() {
  read_counters();
  const int64_t now = steady_ns(clock_);
  const bool heartbeat = now - last_heartbeat_ns_ >= std::chrono::nanoseconds(kHeartbeat).count();
  if (heartbeat) last_heartbeat_ns_ = now;
  for (auto& [name, link] : links_) {
    if (!link->call) continue;
    if (link->unacked_since_ns != 0 &&
        now - link->unacked_since_ns > settings_.report_ack_timeout.count()) {
      log_.warn("reports not acknowledged in time; reopening the stream",
                {{"scaler", name}, {"reportAckTimeout", std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         settings_.report_ack_timeout).count()) + "ms"}});
      link->call->cancel();
      continue;
    }
    compose_and_send(*link, false, heartbeat);
  }
}

void Reporter::wait_trigger() {
  trigger_fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    if (ec || stopping_) return;
    const uint32_t flags = trigger_.take();
    if (flags != 0) {
      read_counters();
      const bool urgent = (flags & ReportTrigger::kUrgent) != 0;
      for (auto& [name, link] : links_) compose_and_send(*link, urgent, true);
    }
    wait_trigger();
  });
}

void Reporter::publish_status() {
  std::vector<ScalerEndpoint> status;
  for (const auto& [name, link] : links_) {
    if (link->removed) continue;
    status.push_back({name, link->channel, link->acked && link->call != nullptr});
  }
  std::lock_guard lock(status_mu_);
  status_ = std::move(status);
}

std::vector<ScalerEndpoint> Reporter::scalers() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

size_t Reporter::healthy_count() const {
  std::lock_guard lock(status_mu_);
  size_t n = 0;
  for (const auto& s : status_) n += s.healthy ? 1 : 0;
  return n;
}

bool Reporter::flush(Duration timeout) {
  {
    std::lock_guard lock(status_mu_);
    flush_wait_.clear();
  }
  std::promise<void> composed;
  auto done = composed.get_future();
  asio::post(ioc_, [this, &composed] {
    read_counters();
    // Every report composed from here on carries the final counts: wait for an ack of one.
    const uint64_t threshold = next_seq_;
    for (auto& [name, link] : links_) {
      if (!link->call || !link->acked) continue;
      {
        std::lock_guard lock(status_mu_);
        flush_wait_[name] = threshold;
      }
      compose_and_send(*link, false, true);
    }
    composed.set_value();
  });
  if (done.wait_for(timeout) != std::future_status::ready) return false;
  std::unique_lock lock(status_mu_);
  return flush_cv_.wait_for(lock, timeout, [this] { return flush_wait_.empty(); });
}

}  // namespace lockstep::proxy
