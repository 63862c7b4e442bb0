#include "test/integration/proxy/proxy_test_support.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <charconv>
#include <limits>
#include <deque>
#include <sstream>

#include "lockstep/v1/ingest.grpc.pb.h"
#include "lockstep/v1/routes.grpc.pb.h"
#include "proxy/proxy_metrics.h"

namespace lockstep::proxy::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// Beast 1.74 treats an empty optional body limit as exceeded by any Content-Length.
constexpr uint64_t kNoBodyLimit = std::numeric_limits<uint64_t>::max();

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// FakeScaler

class FakeScaler::TableWriter final : public grpc::ServerWriteReactor<v1::RouteTable> {
 public:
  explicit TableWriter(FakeScaler& f) : f_(f) {}
  void send(const v1::RouteTable& t) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (writing_) {
      pending_ = t;
      return;
    }
    writing_ = true;
    msg_ = t;
    StartWrite(&msg_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      finish_locked(grpc::Status::CANCELLED);
      return;
    }
    if (pending_) {
      msg_ = std::move(*pending_);
      pending_.reset();
      writing_ = true;
      StartWrite(&msg_);
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    {
      std::lock_guard lock(f_.mu_);
      f_.writers_.erase(this);
    }
    delete this;
  }

 private:
  void finish_locked(const grpc::Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }
  FakeScaler& f_;
  std::mutex mu_;  // guards the fields below and the ordering of StartWrite calls
  v1::RouteTable msg_;
  std::optional<v1::RouteTable> pending_;
  bool writing_ = false;
  bool finished_ = false;
};

class FakeScaler::ReportReader final
    : public grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportResponse> {
 public:
  explicit ReportReader(FakeScaler& f) : f_(f) { StartRead(&req_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      finish_locked(grpc::Status::OK);
      return;
    }
    v1::ReportResponse ack;
    bool has_ack = false;
    grpc::Status error;
    {
      std::lock_guard lock(f_.mu_);
      if (req_.has_hello()) {
        proxy_ = req_.hello().proxy_id();
        epoch_ = req_.hello().boot_epoch();
        ++f_.streams_opened_;
      } else if (req_.has_report() && !proxy_.empty()) {
        f_.apply(proxy_, epoch_, ids_, pending_base_, req_.report());
        ack.set_acked_seq(req_.report().seq());
        has_ack = true;
      } else {
        error = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
      }
    }
    std::lock_guard lock(mu_);
    if (!error.ok()) {
      finish_locked(error);
      return;
    }
    if (has_ack) {
      acks_.push_back(std::move(ack));
      if (!writing_) {
        writing_ = true;
        StartWrite(&acks_.front());
      }
    }
    StartRead(&req_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    acks_.pop_front();
    if (finish_pending_) {
      finish_locked(finish_status_);
      return;
    }
    if (!ok) {
      finish_locked(grpc::Status::CANCELLED);
      return;
    }
    if (!acks_.empty()) {
      writing_ = true;
      StartWrite(&acks_.front());
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status::CANCELLED);
  }
  void OnDone() override { delete this; }

 private:
  void finish_locked(const grpc::Status& s) {
    if (finished_) return;
    if (writing_) {
      finish_pending_ = true;
      finish_status_ = s;
      return;
    }
    finished_ = true;
    Finish(s);
  }
  FakeScaler& f_;
  v1::ReportRequest req_;
  std::string proxy_;
  uint64_t epoch_ = 0;
  std::map<uint32_t, std::pair<std::string, std::string>> ids_;
  std::map<uint32_t, uint64_t> pending_base_;
  std::mutex mu_;  // guards the write queue and finish state
  std::deque<v1::ReportResponse> acks_;
  bool writing_ = false;
  bool finished_ = false;
  bool finish_pending_ = false;
  grpc::Status finish_status_;
};

class FakeScaler::Services {
 public:
  explicit Services(FakeScaler& f) : routes(f), ingest(f) {}
  struct Routes final : v1::Routes::CallbackService {
    explicit Routes(FakeScaler& f) : f(f) {}
    using v1::Routes::CallbackService::Subscribe;
    grpc::ServerWriteReactor<v1::RouteTable>* Subscribe(grpc::CallbackServerContext*,
                                                       const v1::SubscribeRequest*) override {
      auto* w = new TableWriter(f);
      std::optional<v1::RouteTable> table;
      {
        std::lock_guard lock(f.mu_);
        f.writers_.insert(w);
        table = f.table_;
      }
      if (table) w->send(*table);
      return w;
    }
    FakeScaler& f;
  } routes;
  struct Ingest final : v1::Ingest::CallbackService {
    explicit Ingest(FakeScaler& f) : f(f) {}
    using v1::Ingest::CallbackService::Report;
    grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportResponse>* Report(
        grpc::CallbackServerContext*) override {
      return new ReportReader(f);
    }
    FakeScaler& f;
  } ingest;
};

FakeScaler::FakeScaler(int port, grpc::Service* ingest,
                       std::shared_ptr<grpc::ServerCredentials> credentials, std::string ip)
    : ip_(std::move(ip)), services_(std::make_unique<Services>(*this)) {
  grpc::ServerBuilder b;
  b.AddListeningPort(ip_ + ":" + std::to_string(port),
                     credentials ? credentials : grpc::InsecureServerCredentials(), &port_);
  b.RegisterService(&services_->routes);
  b.RegisterService(ingest != nullptr ? ingest : &services_->ingest);
  server_ = b.BuildAndStart();
}

FakeScaler::~FakeScaler() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  server_->Wait();
}

void FakeScaler::set_table(const v1::RouteTable& table) {
  std::vector<TableWriter*> writers;
  {
    std::lock_guard lock(mu_);
    table_ = table;
    writers.assign(writers_.begin(), writers_.end());
    // Sent under mu_ so that a writer cannot finish (and be deleted) meanwhile.
    for (auto* w : writers) w->send(table);
  }
}

size_t FakeScaler::subscribers() const {
  std::lock_guard lock(mu_);
  return writers_.size();
}

void FakeScaler::apply(const std::string& proxy, uint64_t epoch,
                       std::map<uint32_t, std::pair<std::string, std::string>>& ids,
                       std::map<uint32_t, uint64_t>& pending_base, const v1::Report& r) {
  ++reports_;
  received_.push_back(r);
  if (r.urgent()) {
    if (urgent_ == 0) first_urgent_ = std::chrono::steady_clock::now();
    ++urgent_;
  }
  last_version_ = r.route_table_version();
  auto key = [&](uint32_t id) {
    const auto& n = ids.at(id);
    return std::make_tuple(proxy, epoch, n.first, n.second);
  };
  for (const auto& d : r.defs()) {
    ids[d.id()] = {d.route(), d.backend()};
    auto [it, created] = series_.try_emplace(key(d.id()));
    SeriesState& st = it->second;
    if (created) {
      st.last = d.base_requests();
    } else if (d.base_requests() > st.last) {
      st.counted += d.base_requests() - st.last;
      st.last = d.base_requests();
    }
    pending_base[d.id()] = d.base_requests();
  }
  for (const auto& h : r.history()) {
    SeriesState& st = series_.at(key(h.id()));
    uint64_t c = pending_base.at(h.id());
    for (uint32_t n : h.counts()) {
      const uint64_t next = c + n;
      const uint64_t lo = std::max(c, st.last);
      if (next > lo) st.counted += next - lo;
      c = next;
    }
    st.last = std::max(st.last, c);
  }
  for (const auto& s : r.samples()) {
    SeriesState& st = series_.at(key(s.id()));
    if (s.requests() > st.last) {
      st.counted += s.requests() - st.last;
      st.last = s.requests();
    }
    st.in_flight = s.in_flight();
    st.held = s.held();
    pending_base.erase(s.id());
  }
}

uint64_t FakeScaler::counted(const std::string& route, const std::string& backend) const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [k, st] : series_) {
    if (std::get<2>(k) == route && std::get<3>(k) == backend) n += st.counted;
  }
  return n;
}

uint32_t FakeScaler::held(const std::string& route, const std::string& backend) const {
  std::lock_guard lock(mu_);
  uint32_t n = 0;
  for (const auto& [k, st] : series_) {
    if (std::get<2>(k) == route && std::get<3>(k) == backend) n += st.held;
  }
  return n;
}

uint32_t FakeScaler::in_flight(const std::string& route, const std::string& backend) const {
  std::lock_guard lock(mu_);
  uint32_t n = 0;
  for (const auto& [k, st] : series_) {
    if (std::get<2>(k) == route && std::get<3>(k) == backend) n += st.in_flight;
  }
  return n;
}

uint64_t FakeScaler::reports() const {
  std::lock_guard lock(mu_);
  return reports_;
}

uint64_t FakeScaler::urgent_reports() const {
  std::lock_guard lock(mu_);
  return urgent_;
}

uint64_t FakeScaler::last_route_table_version() const {
  std::lock_guard lock(mu_);
  return last_version_;
}

size_t FakeScaler::report_streams_opened() const {
  std::lock_guard lock(mu_);
  return streams_opened_;
}

std::vector<v1::Report> FakeScaler::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::chrono::steady_clock::time_point FakeScaler::first_urgent_at() const {
  std::lock_guard lock(mu_);
  return first_urgent_;
}

// ---------------------------------------------------------------------------------------------
// TestBackend

class TestBackend::Impl {
 public:
  Impl(TestBackend& owner, int threads) : owner_(owner), acceptor_(ioc_) {
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen();
    owner_.port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~Impl() {
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

 private:
  asio::awaitable<void> accept_loop() {
    while (true) {
      error_code ec;
      tcp::socket s(ioc_);
      co_await acceptor_.async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const uint64_t n = ++owner_.connections_;
      asio::co_spawn(ioc_, session(std::move(s), n), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket s, uint64_t conn) {
    beast::flat_buffer buf;
    std::vector<char> chunk(64 * 1024);
    while (true) {
      error_code ec;
      http::request_parser<http::buffer_body> p;
      p.body_limit(kNoBodyLimit);
      co_await http::async_read_header(s, buf, p, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++owner_.requests_;
      auto& req = p.get();
      const std::string target(req.target());
      const std::string path = target.substr(0, target.find('?'));
      // Read (and measure) the whole body, streaming.
      uint64_t bytes = 0, sum = 0;
      while (!p.is_done()) {
        req.body().data = chunk.data();
        req.body().size = chunk.size();
        co_await http::async_read(s, buf, p, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return;
        const size_t n = chunk.size() - req.body().size;
        for (size_t i = 0; i < n; ++i) sum += static_cast<unsigned char>(chunk[i]);
        bytes += n;
      }
      if (path == "/close") co_return;
      if (path == "/hang") {
        ++owner_.hanging_;
        asio::steady_timer t(ioc_, std::chrono::hours(1));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      http::response<http::buffer_body> res;
      res.version(11);
      res.result(http::status::ok);
      res.set("x-backend", owner_.name_);
      res.set("x-conn", std::to_string(conn));
      res.set("x-seen-host", req[http::field::host]);
      res.keep_alive(req.keep_alive());
      std::string body;
      uint64_t stream_bytes = 0;
      if (path == "/big") {
        auto q = target.find("bytes=");
        std::from_chars(target.data() + q + 6, target.data() + target.size(), stream_bytes);
        res.chunked(true);
      } else if (path == "/upload") {
        body = "bytes=" + std::to_string(bytes) + " sum=" + std::to_string(sum);
      } else if (path == "/echo-headers") {
        for (const auto& f : req) {
          body += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
        }
      } else if (path.rfind("/status/", 0) == 0) {
        unsigned code = 200;
        std::from_chars(path.data() + 8, path.data() + path.size(), code);
        res.result(code);
        body = "status " + std::to_string(code);
      } else {
        body = owner_.name_;
      }
      if (path != "/big") {
        res.content_length(body.size());
        res.body().data = body.data();
        res.body().size = body.size();
        res.body().more = false;
        co_await http::async_write(s, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
      } else {
        http::response_serializer<http::buffer_body> sr{res};
        res.body().data = nullptr;
        res.body().more = true;
        co_await http::async_write_header(s, sr, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        uint64_t sent = 0;
        while (sent < stream_bytes) {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), stream_bytes - sent));
          for (size_t i = 0; i < n; ++i) chunk[i] = static_cast<char>('a' + (sent + i) % 26);
          res.body().data = chunk.data();
          res.body().size = n;
          res.body().more = true;
          co_await http::async_write(s, sr, asio::redirect_error(asio::use_awaitable, ec));
          if (ec == http::error::need_buffer) ec = {};
          if (ec) co_return;
          sent += n;
        }
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
        co_await http::async_write(s, sr, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
      }
      if (path == "/reply-then-close") {
        s.close(ec);
        ++owner_.closed_after_reply_;
        co_return;
      }
      if (!req.keep_alive()) co_return;
    }
  }

  TestBackend& owner_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

TestBackend::TestBackend(std::string name, int threads)
    : name_(std::move(name)), impl_(std::make_unique<Impl>(*this, threads)) {}

TestBackend::~TestBackend() = default;

// ---------------------------------------------------------------------------------------------
// TestClient

TestClient::TestClient(uint16_t port) : port_(port) {}
TestClient::~TestClient() = default;

bool TestClient::connected() const { return open_; }

void TestClient::ensure_connected() {
  if (open_) return;
  socket_ = std::make_unique<tcp::socket>(ioc_);
  socket_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  timeval tv{20, 0};
  ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  socket_->set_option(tcp::no_delay(true));
  buffer_.clear();
  open_ = true;
  ++connects_;
}

TestClient::Response TestClient::read_response(bool keep_body, bool head) {
  Response r;
  while (true) {
    http::response_parser<http::buffer_body> p;
    p.body_limit(kNoBodyLimit);
    p.skip(head);
    beast::flat_buffer fb;
    if (!buffer_.empty()) {
      auto b = fb.prepare(buffer_.size());
      std::memcpy(b.data(), buffer_.data(), buffer_.size());
      fb.commit(buffer_.size());
      buffer_.clear();
    }
    error_code ec;
    http::read_header(*socket_, fb, p, ec);
    if (ec) {
      open_ = false;
      return r;
    }
    if (p.get().result_int() / 100 == 1) {
      buffer_.assign(static_cast<const char*>(fb.data().data()), fb.size());
      continue;  // 100 Continue: the final response follows
    }
    r.status = p.get().result_int();
    for (const auto& f : p.get()) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    std::vector<char> chunk(64 * 1024);
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      http::read(*socket_, fb, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        open_ = false;
        r.status = 0;
        return r;
      }
      const size_t n = chunk.size() - p.get().body().size;
      r.body_bytes += n;
      if (keep_body) r.body.append(chunk.data(), n);
    }
    r.keep_alive = p.get().keep_alive();
    buffer_.assign(static_cast<const char*>(fb.data().data()), fb.size());
    if (!r.keep_alive) open_ = false;
    return r;
  }
}

TestClient::Response TestClient::request(const std::string& method, const std::string& host,
                                         const std::string& target,
                                         const std::vector<std::pair<std::string, std::string>>& headers,
                                         const std::string& body, bool keep_body) {
  ensure_connected();
  std::string msg = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
  for (const auto& [k, v] : headers) msg += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    msg += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  msg += "\r\n" + body;
  error_code ec;
  asio::write(*socket_, asio::buffer(msg), ec);
  if (ec) {
    open_ = false;
    return {};
  }
  return read_response(keep_body, method == "HEAD");
}

TestClient::Response TestClient::upload(const std::string& host, const std::string& target,
                                        uint64_t bytes, bool chunked) {
  ensure_connected();
  std::string msg = "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
  msg += chunked ? "Transfer-Encoding: chunked\r\n"
                 : "Content-Length: " + std::to_string(bytes) + "\r\n";
  msg += "\r\n";
  error_code ec;
  asio::write(*socket_, asio::buffer(msg), ec);
  std::vector<char> chunk(256 * 1024);
  uint64_t sent = 0;
  while (!ec && sent < bytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), bytes - sent));
    for (size_t i = 0; i < n; ++i) chunk[i] = static_cast<char>((sent + i) % 251);
    if (chunked) {
      char head[32];
      const int len = std::snprintf(head, sizeof head, "%zx\r\n", n);
      asio::write(*socket_, asio::buffer(head, static_cast<size_t>(len)), ec);
      if (!ec) asio::write(*socket_, asio::buffer(chunk.data(), n), ec);
      if (!ec) asio::write(*socket_, asio::buffer("\r\n", 2), ec);
    } else {
      asio::write(*socket_, asio::buffer(chunk.data(), n), ec);
    }
    sent += n;
  }
  if (!ec && chunked) asio::write(*socket_, asio::buffer("0\r\n\r\n", 5), ec);
  if (ec) {
    open_ = false;
    return {};
  }
  return read_response(true, false);
}

TestClient::Response TestClient::raw(const std::string& bytes) {
  ensure_connected();
  error_code ec;
  asio::write(*socket_, asio::buffer(bytes), ec);
  if (ec) {
    open_ = false;
    return {};
  }
  return read_response(true, false);
}

// ---------------------------------------------------------------------------------------------
// ProxyHarness

ProxyHarness::ProxyHarness(std::vector<std::string> scalers, const Clock& clock,
                           std::function<void(ProxySettings&)> tweak,
                           Reporter::ScalerLookup lookup)
    : log_(LogLevel::kWarn) {
  settings_.listen = "127.0.0.1:0";
  settings_.admin_listen = "127.0.0.1:0";
  settings_.workers = 2;
  settings_.scalers = std::move(scalers);
  settings_.report_interval = std::chrono::milliseconds(50);
  settings_.reconnect_backoff_initial = std::chrono::milliseconds(20);
  settings_.reconnect_backoff_max = std::chrono::milliseconds(200);
  settings_.timer_resolution = std::chrono::milliseconds(20);
  if (tweak) tweak(settings_);
  counters_ = std::make_unique<TrafficCounters>(effective_workers(settings_));
  trigger_ = std::make_unique<ReportTrigger>(clock);
  registry_ = std::make_shared<prometheus::Registry>();
  server_ = std::make_unique<ProxyServer>(settings_, *counters_, clock, *trigger_, log_);
  Reporter::Identity id{"proxy-test", static_cast<uint64_t>(clock.unix_ms()) * 1'000'000 + 1};
  reporter_ = std::make_unique<Reporter>(settings_, id, *counters_, server_->applied_version_ref(),
                                         *trigger_, clock, *registry_, log_, std::move(lookup));
  subscriber_ = std::make_unique<RouteSubscriber>(
      settings_, id, [r = reporter_.get()] { return r->scalers(); }, *counters_,
      [s = server_.get()](std::shared_ptr<const RouteSnapshot> snap) { s->publish(std::move(snap)); },
      *registry_, log_);
  server_->start();
  reporter_->start();
  subscriber_->start();
}

ProxyHarness::~ProxyHarness() {
  subscriber_.reset();
  reporter_.reset();
  server_.reset();
}

bool ProxyHarness::wait_applied(uint64_t version, std::chrono::milliseconds timeout) {
  return wait_until([&] { return server_->applied_version() == version; }, timeout);
}

std::string ProxyHarness::metrics_text() const {
  ProxyMetrics m(*counters_);
  auto families = registry_->Collect();
  auto more = m.Collect();
  families.insert(families.end(), more.begin(), more.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

// ---------------------------------------------------------------------------------------------

double metric_value(const std::string& text, const std::string& name,
                    const std::map<std::string, std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (line.substr(0, name_end) != name) continue;
    std::map<std::string, std::string> got;
    size_t pos = name_end;
    if (line[pos] == '{') {
      ++pos;
      while (line[pos] != '}') {
        const size_t eq = line.find('=', pos);
        const std::string key = line.substr(pos, eq - pos);
        size_t v = eq + 2;  // after ="
        std::string value;
        while (line[v] != '"') {
          if (line[v] == '\\') ++v;
          value += line[v++];
        }
        got[key] = value;
        pos = v + 1;
        if (line[pos] == ',') ++pos;
      }
      ++pos;
    }
    if (got != labels) continue;
    return std::stod(line.substr(line.find_first_not_of(' ', pos)));
  }
  return -1;
}

v1::Route* add_route(v1::RouteTable& t, const std::string& key, std::vector<std::string> hosts,
                     std::vector<std::string> prefixes) {
  auto* r = t.add_routes();
  r->set_key(key);
  for (auto& h : hosts) r->add_hosts(h);
  for (auto& p : prefixes) r->add_path_prefixes(p);
  r->set_max_weight(100);
  return r;
}

v1::Backend* add_backend(v1::Route* r, const std::string& service, uint32_t weight, v1::Role role,
                         std::vector<uint16_t> ports) {
  auto* b = r->add_backends();
  b->set_service(service);
  b->set_weight(weight);
  b->set_role(role);
  for (uint16_t p : ports) {
    auto* ep = b->add_endpoints();
    ep->set_ip("127.0.0.1");
    ep->set_port(p);
  }
  return b;
}

}  // namespace lockstep::proxy::testing
