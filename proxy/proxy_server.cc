#include "proxy/proxy_server.h"

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <thread>

namespace lockstep::proxy {

namespace {

Endpoint parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const std::string port_text = text.substr(colon + 1);
  std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty()) host = "0.0.0.0";
  return Endpoint(boost::asio::ip::make_address(host), static_cast<uint16_t>(port));
}

}  // namespace

uint32_t effective_workers(const ProxySettings& settings) {
  uint32_t n = settings.workers != 0 ? settings.workers : std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

ProxyServer::ProxyServer(const ProxySettings& settings, TrafficCounters& counters,
                         const Clock& clock, ReportTrigger& trigger, Logger log)
    : settings_(settings), shared_{settings, counters, clock, trigger, std::move(log)} {
  const uint32_t n = std::min(effective_workers(settings), counters.shards());
  for (uint32_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i, shared_));
}

ProxyServer::~ProxyServer() { workers_.clear(); }

void ProxyServer::start() {
  Endpoint at;
  try {
    at = parse_listen(settings_.listen);
    for (size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->listen(at, true);
      // Port 0: the others join the port the first one got.
      if (i == 0) at = workers_[0]->local_endpoint();
    }
  } catch (const boost::system::system_error& e) {
    throw boost::system::system_error(e.code(), "listen " + settings_.listen);
  }
  for (auto& w : workers_) w->start();
  shared_.log.info("listening", {{"address", at.address().to_string() + ":" +
                                                 std::to_string(at.port())},
                                {"workers", std::to_string(workers_.size())}});
}

Endpoint ProxyServer::local_endpoint() const { return workers_.front()->local_endpoint(); }

void ProxyServer::publish(std::shared_ptr<const RouteSnapshot> snapshot) {
  const uint64_t version = snapshot->version();
  auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
  for (auto& w : workers_) {
    w->apply(snapshot, [this, remaining, version] {
      if (remaining->fetch_sub(1, std::memory_order_acq_rel) == 1) {
        applied_version_.store(version, std::memory_order_release);
        shared_.trigger.soon();
        if (on_applied_) on_applied_(version);
      }
    });
  }
}

void ProxyServer::begin_drain() { shared_.draining.store(true); }

void ProxyServer::drain(Duration timeout) {
  begin_drain();
  for (auto& w : workers_) w->stop_accepting();
  for (auto& w : workers_) w->close_idle();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polled on the main thread at shutdown only; the workers keep serving meanwhile.
  while (open_sessions() != 0 && std::chrono::steady_clock::now() < deadline) {
    for (auto& w : workers_) w->close_idle();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : workers_) w->force_close();
}

size_t ProxyServer::open_sessions() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->open_sessions();
  return n;
}

void ProxyServer::sweep_now() {
  for (auto& w : workers_) w->post([wp = w.get()] { wp->sweep_now(); });
}

}  // namespace lockstep::proxy
