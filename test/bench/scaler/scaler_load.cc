// Load driver for lockstep-scaler (numbers for docs/benchmarks.md; run by scripts/bench-scaler).
//
//   scaler_load inprocess [--routes 10000] [--proxies 100] [--seconds 5]
//       The aggregator, parse cache and metric computation in this process: one thread applies
//       decoded reports flat out while this thread times the GetMetrics path (trigger lookup,
//       metric read, response) for random routes.
//   scaler_load remote --keda HOST:PORT --ingest HOST:PORT [--routes 10000] [--proxies 100]
//       [--seconds 5] [--activations 200] [--proxy-nice 10] [--ingest-connections N]
//       A real scaler over loopback: `proxies` report streams push every route as fast as the
//       scaler acks (encode, send, decode, apply), each on its own connection as deployed (or
//       shared round robin over --ingest-connections); meanwhile a KEDA-like client times
//       GetMetrics.
//       Then the activation latency: a report with a held request -> `true` on an open
//       StreamIsActive, idle and while ingest runs flat out. The proxies run in a child process
//       at nice --proxy-nice (they stand for other machines), the KEDA-like client (and the one
//       stream that reports the held requests) in this process at nice 0; the CPU each of the
//       three processes used while ingest ran flat out is printed.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/ingest_session.h"
#include "externalscaler.grpc.pb.h"
#include "lockstep/v1/ingest.grpc.pb.h"
#include "scaler/metric_computation.h"
#include "scaler/trigger_cache.h"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace es = externalscaler;
namespace v1 = lockstep::v1;

namespace {

struct Args {
  std::string mode;
  std::string keda = "127.0.0.1:9090";
  std::string ingest = "127.0.0.1:9091";
  int routes = 10'000;
  int proxies = 100;
  double seconds = 5;
  int activations = 200;
  int scaler_pid = 0;       // to read the scaler's resident size from /proc
  double steady_seconds = 10;  // a phase where every proxy reports once a second
  // Nice value of the process that stands for the proxies (their encode, send and ack reads).
  // The proxies run on other machines in production; here they share the scaler's two cores, and
  // at nice 0 a hundred of them would take CPU from the KEDA-like client that measures latency.
  int proxy_nice = 10;
  int ingest_connections = 0;  // 0: one per proxy
};

// The proxies' connections: one each, as deployed, unless --ingest-connections says fewer.
int ingest_connections(const Args& a) {
  return a.ingest_connections > 0 ? std::min(a.ingest_connections, a.proxies) : a.proxies;
}

// Lowers the calling thread's CPU priority (Linux: nice is per thread).
void nice_this_thread(int nice) {
  if (nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
}

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: scaler_load inprocess|remote [--keda A] [--ingest A] [--routes N] "
                         "[--proxies N] [--seconds S] [--activations N]\n");
    std::exit(2);
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--keda") a.keda = v;
    else if (k == "--ingest") a.ingest = v;
    else if (k == "--routes") a.routes = std::stoi(v);
    else if (k == "--proxies") a.proxies = std::stoi(v);
    else if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--activations") a.activations = std::stoi(v);
    else if (k == "--scaler-pid") a.scaler_pid = std::stoi(v);
    else if (k == "--steady-seconds") a.steady_seconds = std::stod(v);
    else if (k == "--proxy-nice") a.proxy_nice = std::stoi(v);
    else if (k == "--ingest-connections") a.ingest_connections = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

// VmRSS / VmHWM of a process, in KiB (0 if unknown).
std::pair<long, long> resident(int pid) {
  if (pid <= 0) return {0, 0};
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return {0, 0};
  char line[256];
  long rss = 0, hwm = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) rss = std::atol(line + 6);
    if (std::strncmp(line, "VmHWM:", 6) == 0) hwm = std::atol(line + 6);
  }
  std::fclose(f);
  return {rss, hwm};
}

std::string route_name(int r) { return "route-" + std::to_string(r); }
std::string route_ns(int r) { return "ns-" + std::to_string(r % 100); }
std::string route_key(int r) { return route_ns(r) + "/" + route_name(r); }

es::ScaledObjectRef trigger_ref(int r) {
  es::ScaledObjectRef ref;
  ref.set_namespace_(route_ns(r));
  ref.set_name(route_name(r));
  auto& md = *ref.mutable_scalermetadata();
  md["scalerAddress"] = "lockstep-scaler.lockstep:9090";
  md["hosts"] = route_name(r) + ".example.com";
  md["targetValue"] = "100";
  return ref;
}

struct Percentiles {
  std::vector<double> us;
  void add(Clock::duration d) { us.push_back(std::chrono::duration<double, std::micro>(d).count()); }
  double at(double q) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  }
  void print(const char* what) {
    const size_t n = us.size();
    std::printf("%-44s n=%zu p50=%.1fus p90=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n", what, n,
                at(0.5), at(0.9), at(0.99), at(0.999), at(1.0));
  }
};

// A decoded report per proxy with a sample for every route; advance() grows every count.
v1::Report samples_report(int routes) {
  v1::Report r;
  for (int i = 0; i < routes; ++i) {
    auto* s = r.add_samples();
    s->set_id(i + 1);
    s->set_in_flight(static_cast<uint32_t>(i % 3));
  }
  return r;
}

void advance(v1::Report& r, uint64_t seq) {
  r.set_seq(seq);
  for (auto& s : *r.mutable_samples()) s.set_requests(s.requests() + 1 + (s.id() & 3));
}

// ------------------------------------------------------------------------------------------
int run_inprocess(const Args& a) {
  lockstep::SystemClock clock;
  lockstep::Logger quiet(lockstep::LogLevel::kError, [](std::string_view) {});
  lockstep::aggregator::Aggregator agg(
      clock, lockstep::aggregator::AggregatorOptions{.max_routes = static_cast<size_t>(a.routes) + 10},
      quiet);
  lockstep::scaler::TriggerCache cache(agg, quiet);
  lockstep::scaler::MetricComputation computation(clock);
  std::vector<std::unique_ptr<lockstep::aggregator::IngestSession>> sessions;
  std::vector<v1::Report> reports;
  const lockstep::aggregator::IngestLimits limits{.max_entries_per_report =
                                                      static_cast<size_t>(a.routes) * 2};
  for (int p = 0; p < a.proxies; ++p) {
    auto s = std::make_unique<lockstep::aggregator::IngestSession>(agg, limits);
    v1::ReportRequest hello;
    hello.mutable_hello()->set_proxy_id("proxy-" + std::to_string(p));
    hello.mutable_hello()->set_boot_epoch(1);
    v1::ReportResponse ack;
    bool has_ack = false;
    s->handle(hello, clock.steady_now(), &ack, &has_ack);
    v1::Report defs;
    defs.set_seq(1);
    for (int r = 0; r < a.routes; ++r) {
      auto* d = defs.add_defs();
      d->set_id(r + 1);
      d->set_route(route_key(r));
      d->set_backend("web");
    }
    s->report(defs, clock.steady_now(), &ack);
    sessions.push_back(std::move(s));
    reports.push_back(samples_report(a.routes));
  }
  std::vector<es::ScaledObjectRef> refs;
  for (int r = 0; r < a.routes; ++r) {
    refs.push_back(trigger_ref(r));
    cache.lookup(refs.back().namespace_(), refs.back().name(), refs.back().scalermetadata());
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> entries{0};
  std::thread ingest([&] {
    uint64_t seq = 1;
    v1::ReportResponse ack;
    for (int p = 0; !stop.load(std::memory_order_relaxed); p = (p + 1) % a.proxies) {
      if (p == 0) ++seq;
      advance(reports[p], seq);
      ack.Clear();
      sessions[p]->report(reports[p], clock.steady_now(), &ack);
      entries.fetch_add(static_cast<uint64_t>(a.routes), std::memory_order_relaxed);
    }
  });
  std::mt19937 rng(42);
  Percentiles lat;
  const auto start = Clock::now();
  double sink = 0;
  while (Clock::now() - start < std::chrono::duration<double>(a.seconds)) {
    const auto& ref = refs[rng() % refs.size()];
    const auto t0 = Clock::now();
    // The GetMetrics handler's work: find the trigger, read, answer.
    auto found = cache.lookup(ref.namespace_(), ref.name(), ref.scalermetadata());
    const auto reading = computation.read(found.trigger->spec, found.trigger->route());
    es::GetMetricsResponse resp;
    auto* v = resp.add_metricvalues();
    v->set_metricname(found.trigger->spec.metric_name);
    v->set_metricvaluefloat(reading.value);
    v->set_metricvalue(static_cast<int64_t>(reading.value + 0.999));
    lat.add(Clock::now() - t0);
    sink += reading.value;
  }
  stop = true;
  ingest.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("in-process: %d routes x %d proxies, %.1f s (sink %.0f)\n", a.routes, a.proxies, secs,
              sink > 0 ? 1.0 : 0.0);
  std::printf("%-44s %.2fM entries/s (one thread, while GetMetrics runs)\n",
              "aggregator core, decoded entries applied:",
              static_cast<double>(entries.load()) / secs / 1e6);
  lat.print("GetMetrics path in-process (ingest running):");
  std::printf("aggregator state: %.1f MiB\n", static_cast<double>(agg.memory_bytes()) / (1 << 20));
  return 0;
}

// ------------------------------------------------------------------------------------------
// One proxy stream pushing every route as fast as the scaler acks (at most `window` reports
// unacknowledged).
class PushingProxy {
 public:
  PushingProxy(std::shared_ptr<grpc::Channel> ch, int id, int routes, int first_route, int nice)
      : stub_(v1::Ingest::NewStub(ch)), id_(id), routes_(routes), first_(first_route), nice_(nice) {}

  bool open() {
    ctx_.set_deadline(std::chrono::system_clock::now() + 1h);
    stream_ = stub_->Report(&ctx_);
    v1::ReportRequest hello;
    hello.mutable_hello()->set_proxy_id("load-proxy-" + std::to_string(id_));
    hello.mutable_hello()->set_boot_epoch(
        static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
    if (!stream_->Write(hello)) {
      reader_ = std::thread([] {});
      return false;
    }
    v1::ReportRequest defs;
    defs.mutable_report()->set_seq(1);
    for (int r = 0; r < routes_; ++r) {
      auto* d = defs.mutable_report()->add_defs();
      d->set_id(r + 1);
      d->set_route(route_key(first_ + r));
      d->set_backend("web");
    }
    if (!stream_->Write(defs)) {
      reader_ = std::thread([] {});
      return false;
    }
    *msg_.mutable_report() = samples_report(routes_);
    reader_ = std::thread([this] {
      nice_this_thread(nice_);
      v1::ReportResponse ack;
      while (stream_->Read(&ack)) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          acked_.store(ack.acked_seq(), std::memory_order_release);
        }
        cv_.notify_one();
        rejects_.fetch_add(static_cast<uint64_t>(ack.rejects_size()), std::memory_order_relaxed);
      }
      ended_ = true;
      cv_.notify_one();
    });
    return true;
  }

  // Reports every `period` (0: as fast as the scaler acks, at most `window` unacknowledged),
  // the first at `phase` past the start, as lockstep-proxy spreads a fleet's reports over the
  // first quarter of its interval.
  void run(const std::atomic<bool>& stop, std::atomic<uint64_t>& entries, int window,
           std::chrono::milliseconds period = 0ms, Clock::duration phase = {}) {
    nice_this_thread(nice_);
    auto next = Clock::now() + phase - period;  // the loop adds a period before each report
    while (!stop.load(std::memory_order_relaxed)) {
      if (period > 0ms) {
        next += period;
        std::this_thread::sleep_until(next);
        if (stop.load(std::memory_order_relaxed)) break;
      }
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, 100ms, [&] {
          return seq_ - acked_.load(std::memory_order_acquire) < static_cast<uint64_t>(window) ||
                 ended_ || stop.load(std::memory_order_relaxed);
        });
      }
      if (ended_) return;
      if (seq_ - acked_.load(std::memory_order_acquire) >= static_cast<uint64_t>(window)) continue;
      advance(*msg_.mutable_report(), ++seq_);
      if (!stream_->Write(msg_)) return;
      entries.fetch_add(static_cast<uint64_t>(routes_), std::memory_order_relaxed);
    }
    // Wait for the last acks, so every counted entry was applied.
    const auto deadline = Clock::now() + 10s;
    while (acked_.load() < seq_ && !ended_ && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }

  void close() {
    stream_->WritesDone();
    if (reader_.joinable()) reader_.join();
    stream_->Finish();
  }
  uint64_t rejects() const { return rejects_.load(); }
  // True once the scaler acknowledged the definitions report (seq 1): it has applied them.
  bool wait_defined(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] {
      return acked_.load(std::memory_order_acquire) >= 1 || ended_;
    }) && !ended_;
  }
  grpc::Status finish_status() {
    if (reader_.joinable()) reader_.join();
    return stream_->Finish();
  }

 private:
  std::unique_ptr<v1::Ingest::Stub> stub_;
  const int id_;
  const int routes_;
  const int first_;
  const int nice_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>> stream_;
  v1::ReportRequest msg_;
  std::thread reader_;
  uint64_t seq_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> rejects_{0};
  std::atomic<bool> ended_{false};
};

void time_get_metrics(es::ExternalScaler::Stub& stub, int routes, const std::atomic<bool>& stop,
                      Percentiles& lat, std::atomic<int>& errors) {
  std::mt19937 rng(7);
  std::vector<es::GetMetricsRequest> reqs;
  for (int r = 0; r < std::min(routes, 2000); ++r) {
    es::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = trigger_ref(r);
    req.set_metricname("lockstep-requestrate-" + route_ns(r) + "-" + route_name(r));
    reqs.push_back(std::move(req));
  }
  while (!stop.load(std::memory_order_relaxed)) {
    const auto& req = reqs[rng() % reqs.size()];
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    es::GetMetricsResponse resp;
    const auto t0 = Clock::now();
    const auto s = stub.GetMetrics(&ctx, req, &resp);
    lat.add(Clock::now() - t0);
    if (!s.ok()) {
      // Rare under flat-out ingest (2 runs in about 30 in session 4): say which status it was.
      if (errors.fetch_add(1) < 5) {
        std::fprintf(stderr, "GetMetrics error: code %d: %s\n", static_cast<int>(s.error_code()),
                     s.error_message().c_str());
      }
    }
  }
}

// StreamIsActive on `n` fresh routes; for each in turn a proxy reports a held request and we time
// the `true`. Set up (the streams open, their routes armed, a reader thread each, the activator's
// report stream) in the constructor, timed in run(): a benchmark sets up before the phase it
// measures, so that opening 200 streams and starting 200 threads is not in the figures of the
// calls timed meanwhile (KEDA opens its streams once and holds them).
class Activations {
 public:
  Activations(const std::shared_ptr<grpc::Channel>& keda,
              const std::shared_ptr<grpc::Channel>& ingest, int n, int round)
      : stub_(es::ExternalScaler::NewStub(keda)), istub_(v1::Ingest::NewStub(ingest)), n_(n),
        base_(1'000'000 + round * 10'000) {  // routes of their own
    // n + 1 routes: the first activation is untimed (see run()).
    for (int i = 0; i <= n; ++i) {
      auto w = std::make_unique<Watch>();
      w->ctx.set_deadline(std::chrono::system_clock::now() + 10min);
      w->reader = stub_->StreamIsActive(&w->ctx, trigger_ref(base_ + i));
      Watch* raw = w.get();
      w->thread = std::thread([this, raw] {
        es::IsActiveResponse r;
        while (raw->reader->Read(&r)) {
          if (r.result() && raw->got_ns.load() == 0) {
            const int64_t now = Clock::now().time_since_epoch().count();
            {
              std::lock_guard<std::mutex> lock(got_mu_);
              raw->got_ns.store(now);
            }
            got_cv_.notify_all();
          }
        }
        raw->reader->Finish();
      });
      watches_.push_back(std::move(w));
    }
    ictx_.set_deadline(std::chrono::system_clock::now() + 10min);
    stream_ = istub_->Report(&ictx_);
    v1::ReportRequest hello;
    hello.mutable_hello()->set_proxy_id("activator-" + std::to_string(round));
    hello.mutable_hello()->set_boot_epoch(1);
    stream_->Write(hello);
    drain_ = std::thread([this] {
      v1::ReportResponse ack;
      while (stream_->Read(&ack)) {
      }
    });
    std::this_thread::sleep_for(500ms);  // streams open and routes armed
  }

  ~Activations() {
    stream_->WritesDone();
    drain_.join();
    stream_->Finish();
    for (auto& w : watches_) w->ctx.TryCancel();
    for (auto& w : watches_) w->thread.join();
  }

  // The first activation after setup takes a cold path (1.2-2.4 ms in every run, against a p50
  // of 0.3-0.5 ms) and is not timed: a benchmark warms up before the phase it measures, and of
  // 200 samples p99 is the second slowest.
  void run(Percentiles& lat) {
    for (int i = 0; i <= n_; ++i) {
      v1::ReportRequest m;
      auto* r = m.mutable_report();
      r->set_seq(i + 1);
      r->set_urgent(true);
      auto* d = r->add_defs();
      d->set_id(i + 1);
      d->set_route(route_key(base_ + i));
      d->set_backend("web");
      auto* s = r->add_samples();
      s->set_id(i + 1);
      s->set_held(1);
      const auto t0 = Clock::now();
      stream_->Write(m);
      // The timing thread sleeps until a reader has seen its `true` (the reader stamps the time
      // first): spinning here would take a core from the scaler on a small machine.
      {
        std::unique_lock<std::mutex> lock(got_mu_);
        got_cv_.wait_until(lock, t0 + 2s, [&] { return watches_[i]->got_ns.load() != 0; });
      }
      const int64_t got = watches_[i]->got_ns.load();
      if (i == 0) continue;  // the warm-up
      lat.add(got == 0 ? 2s : Clock::time_point(Clock::duration(got)) - t0);
    }
  }

 private:
  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<es::IsActiveResponse>> reader;
    std::atomic<int64_t> got_ns{0};
    std::thread thread;
  };
  std::unique_ptr<es::ExternalScaler::Stub> stub_;
  std::unique_ptr<v1::Ingest::Stub> istub_;
  const int n_;
  const int base_;
  std::mutex got_mu_;
  std::condition_variable got_cv_;
  std::vector<std::unique_ptr<Watch>> watches_;
  grpc::ClientContext ictx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>> stream_;
  std::thread drain_;
};

// CPU time (user + system) of a process so far, in seconds (0 if unknown).
double cpu_seconds(int pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  // Fields after the name: state(3) ... utime(14) stime(15).
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One line over a pipe between the two processes of `remote`.
void send_line(int fd, const std::string& line) {
  const std::string l = line + "\n";
  if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::_Exit(3);
}
std::string read_line(int fd) {
  std::string out;
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') return out;
    out.push_back(c);
  }
  std::_Exit(0);  // the other side is gone
}

// The proxies' process: `proxies` report streams, told over `in` what to do, answering on `out`.
// The whole process runs at nice `proxy_nice` (its gRPC threads too): it stands for proxies on
// other machines, and must not take the KEDA client's CPU.
int run_proxies(const Args& a, int in, int out) {
  if (a.proxy_nice != 0) setpriority(PRIO_PROCESS, 0, a.proxy_nice);
  // Connect once KEDA's first calls have pinned the routes (as the original sequence had it).
  if (read_line(in) != "go") std::_Exit(4);
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  // One connection per proxy, as deployed (each proxy is a pod with its own channel), unless
  // --ingest-connections says fewer: then the streams share them round robin.
  std::vector<std::shared_ptr<grpc::Channel>> ingest_channels;
  const int connections = ingest_connections(a);
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments ca = args;
    ca.SetInt("lockstep.load.channel", i);  // distinct args: distinct subchannel
    ingest_channels.push_back(
        grpc::CreateCustomChannel(a.ingest, grpc::InsecureChannelCredentials(), ca));
  }
  std::vector<std::unique_ptr<PushingProxy>> proxies;
  for (int p = 0; p < a.proxies; ++p) {
    // Like a real proxy, retry a refused stream (the scaler sheds new streams under memory
    // pressure while others are being applied).
    for (int attempt = 0;; ++attempt) {
      auto proxy = std::make_unique<PushingProxy>(ingest_channels[p % ingest_channels.size()], p,
                                                  a.routes, 0, 0);
      if (proxy->open()) {
        proxies.push_back(std::move(proxy));
        break;
      }
      const grpc::Status st = proxy->finish_status();
      if (attempt == 20) {
        std::fprintf(stderr, "cannot open proxy stream %d: %d %s\n", p,
                     static_cast<int>(st.error_code()), st.error_message().c_str());
        std::_Exit(1);
      }
      std::this_thread::sleep_for(200ms);
    }
  }
  // The scaler applies the 100 x 10k definitions in the background; the idle phase that follows
  // must find it idle, so wait until every proxy's definitions are acknowledged.
  const auto defined_by = Clock::now() + 60s;
  for (auto& p : proxies) {
    if (!p->wait_defined(defined_by)) {
      std::fprintf(stderr, "a proxy's definitions were not acknowledged within 60 s\n");
      std::_Exit(1);
    }
  }
  send_line(out, "ready");
  while (true) {
    const std::string cmd = read_line(in);
    if (cmd == "quit") break;
    // "run <period_ms>" until "stop": period 0 is flat out.
    if (cmd.rfind("run ", 0) != 0) std::_Exit(4);
    const auto period = std::chrono::milliseconds(std::stoi(cmd.substr(4)));
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> entries{0};
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (auto& p : proxies) {
      // Phases spread evenly over the first quarter of the period (lockstep-proxy: by a hash
      // of its id).
      const auto phase = period / 4 * static_cast<int>(threads.size()) /
                         static_cast<int>(proxies.size());
      threads.emplace_back(
          [&, raw = p.get(), phase] { raw->run(stop, entries, 4, period, phase); });
    }
    send_line(out, "started");
    if (read_line(in) != "stop") std::_Exit(4);
    stop = true;
    const auto stopped = Clock::now();
    for (auto& t : threads) t.join();
    uint64_t rejects = 0;
    for (auto& p : proxies) rejects += p->rejects();
    char line[128];
    std::snprintf(line, sizeof line, "%llu %.6f %llu", static_cast<unsigned long long>(entries.load()),
                  std::chrono::duration<double>(stopped - start).count(),
                  static_cast<unsigned long long>(rejects));
    send_line(out, line);
  }
  for (auto& p : proxies) p->close();
  return 0;
}

// The KEDA side (this process, nice 0) and the proxies (a child process at nice `proxy_nice`):
// two processes, as KEDA and the proxies are two programs on other machines in production.
int run_remote(const Args& a) {
  // Fork before any gRPC object exists in either process.
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(to_child[1]);
    close(from_child[0]);
    std::_Exit(run_proxies(a, to_child[0], from_child[1]));
  }
  close(to_child[0]);
  close(from_child[1]);
  const int cmd = to_child[1];
  const int reply = from_child[0];
  struct Reaper {
    pid_t pid;
    int fd;
    ~Reaper() {
      send_line(fd, "quit");
      close(fd);
      waitpid(pid, nullptr, 0);
    }
  };
  auto keda = grpc::CreateChannel(a.keda, grpc::InsecureChannelCredentials());
  auto activator_channel = grpc::CreateChannel(a.ingest, grpc::InsecureChannelCredentials());
  auto stub = es::ExternalScaler::NewStub(keda);
  // KEDA's first calls: the triggers of every route (parsed once, pinned).
  for (int r = 0; r < a.routes; ++r) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    es::GetMetricSpecResponse resp;
    if (!stub->GetMetricSpec(&ctx, trigger_ref(r), &resp).ok()) {
      std::fprintf(stderr, "GetMetricSpec failed for %s\n", route_key(r).c_str());
      kill(child, SIGKILL);
      return 1;
    }
  }
  send_line(cmd, "go");
  Reaper reaper{child, cmd};
  if (read_line(reply) != "ready") return 1;
  const int connections = ingest_connections(a);
  std::printf("remote: %d routes x %d proxies on %d connections, %.1f s of ingest; proxies in "
              "process %d at nice %d, KEDA client in process %d at nice 0\n",
              a.routes, a.proxies, connections, a.seconds, static_cast<int>(child), a.proxy_nice,
              static_cast<int>(getpid()));
  if (std::getenv("LOCKSTEP_LOAD_IDLE_PAUSE") != nullptr) {
    std::printf("connected; pausing %s s\n", std::getenv("LOCKSTEP_LOAD_IDLE_PAUSE"));
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(std::getenv("LOCKSTEP_LOAD_IDLE_PAUSE"))));
  }
  std::fflush(stdout);
  // Idle activation latency first.
  {
    Percentiles idle;
    Activations(keda, activator_channel, a.activations, 0).run(idle);
    idle.print("activation (held report -> true), idle:");
  }
  auto stop_run = [&](double* secs, uint64_t* rejects) {
    send_line(cmd, "stop");
    unsigned long long e = 0, r = 0;
    double s = 0;
    std::sscanf(read_line(reply).c_str(), "%llu %lf %llu", &e, &s, &r);
    *secs = s;
    *rejects = r;
    return static_cast<uint64_t>(e);
  };
  // Steady state: every proxy reports every route once a second, as deployed.
  if (a.steady_seconds > 0) {
    send_line(cmd, "run 1000");
    if (read_line(reply) != "started") return 1;
    // The resident size rises with each second's reports and falls as they are applied and the
    // heap is trimmed: sample it every 100 ms over the second half (the first half lets the
    // connect burst's trims run) and give the spread, not one instant.
    const auto steady_start = Clock::now();
    const auto steady_end = steady_start + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(a.steady_seconds));
    std::this_thread::sleep_until(steady_start + (steady_end - steady_start) / 2);
    long rss_min = 0, rss_max = 0, hwm = 0;
    double rss_sum = 0;
    int samples = 0;
    for (auto t = Clock::now(); t < steady_end; t += 100ms) {
      const auto [rss, h] = resident(a.scaler_pid);
      rss_min = samples == 0 ? rss : std::min(rss_min, rss);
      rss_max = std::max(rss_max, rss);
      rss_sum += static_cast<double>(rss);
      hwm = h;
      ++samples;
      std::this_thread::sleep_until(t + 100ms);
    }
    double secs;
    uint64_t rejects;
    const uint64_t e = stop_run(&secs, &rejects);
    std::printf("%-44s %.2fM entries/s; scaler VmRSS avg %.1f MiB (min %.1f, max %.1f over the "
                "last %.0f s; VmHWM so far %.1f MiB)\n",
                "steady state, 1 report/s per proxy:", static_cast<double>(e) / secs / 1e6,
                rss_sum / std::max(samples, 1) / 1024.0, rss_min / 1024.0, rss_max / 1024.0,
                a.steady_seconds / 2, hwm / 1024.0);
  }
  // Set up before the phase, timed in its middle.
  Activations busy_activations(keda, activator_channel, a.activations, 1);
  std::atomic<bool> stop{false};
  const double cpu_scaler0 = cpu_seconds(a.scaler_pid);
  const double cpu_proxies0 = cpu_seconds(child);
  const double cpu_keda0 = cpu_seconds(getpid());
  send_line(cmd, "run 0");
  if (read_line(reply) != "started") return 1;
  const auto start = Clock::now();
  Percentiles gm;
  std::atomic<int> gm_errors{0};
  std::thread poller([&] { time_get_metrics(*stub, a.routes, stop, gm, gm_errors); });
  Percentiles busy;
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds / 2));
  busy_activations.run(busy);
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(a.seconds)));
  stop = true;
  double secs;
  uint64_t rejects;
  const uint64_t entries = stop_run(&secs, &rejects);
  poller.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu_scaler = cpu_seconds(a.scaler_pid) - cpu_scaler0;
  const double cpu_proxies = cpu_seconds(child) - cpu_proxies0;
  const double cpu_keda = cpu_seconds(getpid()) - cpu_keda0;
  std::printf("%-44s %.2fM entries/s (%llu entries, %llu rejects)\n",
              "ingest end to end over loopback gRPC:", static_cast<double>(entries) / secs / 1e6,
              static_cast<unsigned long long>(entries), static_cast<unsigned long long>(rejects));
  std::printf("%-44s scaler %.2f, proxies %.2f, KEDA client %.2f (of %ld CPUs)\n",
              "CPU while ingest runs flat out, cores:", cpu_scaler / wall, cpu_proxies / wall,
              cpu_keda / wall, sysconf(_SC_NPROCESSORS_ONLN));
  gm.print("GetMetrics over loopback (ingest running):");
  if (gm_errors.load() > 0) std::printf("GetMetrics errors: %d\n", gm_errors.load());
  busy.print("activation, while ingest runs flat out:");
  if (a.scaler_pid > 0) {
    const auto [rss, hwm] = resident(a.scaler_pid);
    std::printf("%-44s VmRSS %.1f MiB, VmHWM %.1f MiB\n", "scaler memory after flat-out ingest:",
                rss / 1024.0, hwm / 1024.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args a = parse(argc, argv);
  if (a.mode == "inprocess") return run_inprocess(a);
  if (a.mode == "remote") return run_remote(a);
  std::fprintf(stderr, "unknown mode %s\n", a.mode.c_str());
  return 2;
}
