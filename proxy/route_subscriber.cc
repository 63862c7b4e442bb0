#include "proxy/route_subscriber.h"

#include <boost/asio/post.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "lockstep/v1/routes.grpc.pb.h"

namespace lockstep::proxy {

namespace asio = boost::asio;
namespace v1 = lockstep::v1;
using boost::system::error_code;

namespace {
constexpr size_t kMaxRejectLogs = 50;
// Prometheus values are doubles: the low 53 bits of the version are exact.
double version_value(uint64_t v) { return static_cast<double>(v & ((1ull << 53) - 1)); }
}  // namespace

class RouteSubscriber::Stream final : public grpc::ClientReadReactor<v1::RouteTable> {
 public:
  Stream(RouteSubscriber& s, uint64_t gen) : s_(s), gen_(gen) {}
  void start(v1::Routes::Stub& stub, const v1::SubscribeRequest& request,
             std::chrono::system_clock::time_point deadline) {
    request_ = request;
    ctx_.set_deadline(deadline);
    stub.async()->Subscribe(&ctx_, &request_, this);
    StartRead(&table_);
    StartCall();
  }
  void cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    auto copy = std::make_shared<v1::RouteTable>(std::move(table_));
    table_.Clear();
    StartRead(&table_);
    asio::post(s_.ioc_, [s = &s_, g = gen_, copy] { s->on_table(g, copy.get()); });
  }
  void OnDone(const grpc::Status& st) override {
    asio::post(s_.ioc_, [s = &s_, g = gen_, code = static_cast<int>(st.error_code()),
                         msg = st.error_message()] { s->on_done(g, code, msg); });
  }

  std::unique_ptr<v1::Routes::Stub> stub;  // kept alive for the call

 private:
  RouteSubscriber& s_;
  const uint64_t gen_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  v1::RouteTable table_;
};

RouteSubscriber::RouteSubscriber(const ProxySettings& settings, Reporter::Identity identity,
                                 Scalers scalers, TrafficCounters& counters, Publish publish,
                                 prometheus::Registry& registry, Logger log)
    : settings_(settings),
      identity_(std::move(identity)),
      scalers_(std::move(scalers)),
      counters_(counters),
      publish_(std::move(publish)),
      log_(std::move(log)),
      version_gauge_(prometheus::BuildGauge()
                         .Name("lockstep_proxy_route_table_version")
                         .Help("Version of the applied route table (its low 53 bits).")
                         .Register(registry)
                         .Add({})),
      routes_gauge_(prometheus::BuildGauge()
                        .Name("lockstep_proxy_routes")
                        .Help("Routes in the applied route table.")
                        .Register(registry)
                        .Add({})),
      tables_family_(prometheus::BuildCounter()
                         .Name("lockstep_proxy_route_tables_total")
                         .Help("Route tables received: applied, unchanged (same version) or "
                               "refused.")
                         .Register(registry)),
      rejects_family_(prometheus::BuildCounter()
                          .Name("lockstep_proxy_route_table_rejects_total")
                          .Help("Parts of received route tables dropped as invalid, by kind.")
                          .Register(registry)),
      source_family_(prometheus::BuildGauge()
                         .Name("lockstep_proxy_route_source")
                         .Help("1 for the scaler replica the route table stream comes from.")
                         .Register(registry)),
      backoff_(settings.reconnect_backoff_initial),
      rng_(identity_.boot_epoch ^ 0x2545f4914f6cdd1dull) {}

RouteSubscriber::~RouteSubscriber() {
  if (thread_.joinable()) {
    asio::post(ioc_, [this] {
      stopping_ = true;
      retry_timer_.cancel();
      if (stream_) {
        stream_->cancel();
      } else {
        guard_.reset();
      }
    });
    thread_.join();
  }
}

void RouteSubscriber::start() {
  guard_.emplace(ioc_.get_executor());
  asio::post(ioc_, [this] { connect(); });
  thread_ = std::thread([this] { ioc_.run(); });
}

void RouteSubscriber::connect() {
  if (stopping_ || stream_) return;
  std::vector<ScalerEndpoint> all = scalers_();
  if (all.empty()) {
    retry(false);
    return;
  }
  // Healthy replicas first (their report stream works), round-robin among equals, so a failed
  // replica is not retried before the others.
  std::vector<size_t> order;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < all.size(); ++k) {
      const size_t i = (next_pick_ + k) % all.size();
      if (all[i].healthy == (pass == 0)) order.push_back(i);
    }
  }
  const ScalerEndpoint& pick = all[order.front()];
  next_pick_ = (order.front() + 1) % all.size();
  current_ = pick.name;
  got_table_ = false;
  stream_ = std::make_unique<Stream>(*this, ++gen_);
  stream_->stub = v1::Routes::NewStub(pick.channel);
  v1::SubscribeRequest req;
  req.set_proxy_id(identity_.proxy_id);
  req.set_boot_epoch(identity_.boot_epoch);
  req.set_have_version(published_.load(std::memory_order_acquire));
  const auto lifetime = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      settings_.scaler_stream_lifetime);
  stream_->start(*stream_->stub, req, std::chrono::system_clock::now() + lifetime);
  if (current_gauge_ != nullptr) source_family_.Remove(current_gauge_);
  current_gauge_ = &source_family_.Add({{"scaler", current_}});
  current_gauge_->Set(1);
}

void RouteSubscriber::on_table(uint64_t gen, const void* table_ptr) {
  if (gen != gen_ || stopping_) return;
  const auto& table = *static_cast<const v1::RouteTable*>(table_ptr);
  if (!got_table_) {
    got_table_ = true;
    backoff_ = settings_.reconnect_backoff_initial;
    log_.info("route table stream open",
              {{"scaler", current_}, {"after_failures", std::to_string(failures_)}});
    failures_ = 0;
  }
  if (table.version() != 0 && table.version() == published_.load(std::memory_order_acquire)) {
    tables_family_.Add({{"result", "unchanged"}}).Increment();
    return;
  }
  CompiledTable compiled = compile_route_table(table, counters_);
  size_t logged = 0;
  for (const auto& r : compiled.rejects) {
    rejects_family_.Add({{"kind", r.kind}}).Increment();
    if (logged++ < kMaxRejectLogs) {
      log_.warn("route table entry dropped", {{"route", r.route}, {"field", r.field},
                                              {"reason", r.reason}, {"scaler", current_}});
    }
  }
  if (!compiled.snapshot) {
    tables_family_.Add({{"result", "refused"}}).Increment();
    log_.error("route table refused; keeping the last good one",
               {{"scaler", current_}, {"version", std::to_string(table.version())}});
    return;
  }
  const uint64_t version = compiled.snapshot->version();
  const size_t routes = compiled.snapshot->routes().size();
  publish_(std::move(compiled.snapshot));
  published_.store(version, std::memory_order_release);
  tables_family_.Add({{"result", "applied"}}).Increment();
  version_gauge_.Set(version_value(version));
  routes_gauge_.Set(static_cast<double>(routes));
  log_.info("route table applied", {{"version", std::to_string(version)},
                                    {"routes", std::to_string(routes)},
                                    {"generation", std::to_string(table.generation())},
                                    {"scaler", current_}});
}

void RouteSubscriber::on_done(uint64_t gen, int code, const std::string& message) {
  if (gen != gen_) return;
  stream_.reset();
  if (current_gauge_ != nullptr) current_gauge_->Set(0);
  if (stopping_) {
    guard_.reset();
    return;
  }
  const bool lifetime_over = code == grpc::StatusCode::DEADLINE_EXCEEDED && got_table_;
  if (!lifetime_over) {
    ++failures_;
    const auto now = std::chrono::steady_clock::now();
    if (failures_ == 1 || now - last_failure_log_ >= std::chrono::minutes(1)) {
      last_failure_log_ = now;
      log_.warn("route table stream ended; keeping the last good table",
                {{"scaler", current_}, {"code", std::to_string(code)}, {"message", message},
                 {"failures", std::to_string(failures_)}});
    }
  }
  retry(!lifetime_over);
}

void RouteSubscriber::retry(bool failed) {
  if (stopping_) return;
  Duration delay{};
  if (failed || !got_table_) {
    rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
    const double f = 0.5 + 0.5 * static_cast<double>(rng_ >> 11) / static_cast<double>(1ull << 53);
    delay = Duration(static_cast<int64_t>(static_cast<double>(backoff_.count()) * f));
    backoff_ = std::min(settings_.reconnect_backoff_max, backoff_ * 2);
  }
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([this](error_code ec) {
    if (!ec) connect();
  });
}

}  // namespace lockstep::proxy
