#include "demo/load_generator.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cmath>
#include <optional>

namespace lockstep::demo {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr double kLatencyBase = 1.05;  // histogram buckets grow by 5%
constexpr size_t kLatencyBuckets = 420;  // 1 us .. ~ 80 s

size_t latency_bucket(double us) {
  if (us < 1) return 0;
  return std::min(kLatencyBuckets - 1, static_cast<size_t>(std::log(us) / std::log(kLatencyBase)));
}

}  // namespace

size_t version_index(std::string_view body) {
  const size_t end = body.find_first_of(" \n");
  const std::string_view word = body.substr(0, end);
  if (word == "v1") return 0;
  if (word == "v2") return 1;
  return 2;
}

TrafficCounts& TrafficCounts::operator+=(const TrafficCounts& o) {
  for (size_t i = 0; i < kVersions; ++i) ok[i] += o.ok[i];
  http_errors += o.http_errors;
  failures += o.failures;
  return *this;
}

class LoadGenerator::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(asio::io_context& io) : socket(io), timer(io) {}
  tcp::socket socket;
  asio::steady_timer timer;  // response deadline
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  bool connected = false;
  uint64_t answered = 0;  // responses read on this connection
  SteadyTime idle_since{};
};

LoadGenerator::LoadGenerator(Options options)
    : options_(std::move(options)),
      request_text_("GET " + options_.path + " HTTP/1.1\r\nHost: " + options_.host +
                    "\r\nUser-Agent: lockstep-demo\r\nAccept: */*\r\n\r\n"),
      timer_(io_),
      latency_us_(kLatencyBuckets, 0) {}

LoadGenerator::~LoadGenerator() { stop(0ms); }

void LoadGenerator::start() {
  pace_epoch_ = std::chrono::steady_clock::now();
  asio::post(io_, [this] { tick(); });
  thread_ = std::thread([this] { io_.run(); });
}

void LoadGenerator::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    timer_.cancel();
    backlog_.clear();
    backlog_head_ = 0;
  });
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (completed_ + dropped_ >= issued_) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  io_.stop();
  thread_.join();
}

void LoadGenerator::set_rate(double rps) { rate_.store(std::max(0.0, rps), std::memory_order_relaxed); }

size_t LoadGenerator::slot_of(SteadyTime t) const {
  if (t < options_.t0) return 0;
  return static_cast<size_t>((t - options_.t0) / options_.slot);
}

void LoadGenerator::tick() {
  if (stopping_) return;
  const auto now = std::chrono::steady_clock::now();
  const double want = rate_.load(std::memory_order_relaxed);
  if (want != pace_rate_) {
    pace_rate_ = want;
    pace_epoch_ = now;
    pace_issued_ = 0;
  }
  if (pace_rate_ > 0) {
    const double elapsed = std::chrono::duration<double>(now - pace_epoch_).count();
    const auto due = static_cast<uint64_t>(elapsed * pace_rate_);
    // A generator descheduled for a while sends the requests it owes at once (open loop: the
    // schedule is the truth); only a stall of more than 2 s of traffic is cut short and counted
    // as dropped, so that a stopped process does not come back with a flood.
    const uint64_t cap = static_cast<uint64_t>(pace_rate_ * 2) + 1;
    while (pace_issued_ < due) {
      const auto intended = pace_epoch_ + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::duration<double>(pace_issued_ / pace_rate_));
      if (due - pace_issued_ > cap) {
        std::lock_guard<std::mutex> lock(mu_);
        ++issued_;
        ++dropped_;
      } else {
        if (now - intended > 100ms) {
          std::lock_guard<std::mutex> lock(mu_);
          ++late_;
        }
        issue(intended);
      }
      ++pace_issued_;
    }
  }
  timer_.expires_after(pace_rate_ > 0 ? 1ms : 5ms);
  timer_.async_wait([this](beast::error_code ec) {
    if (!ec) tick();
  });
}

void LoadGenerator::issue(SteadyTime intended) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++issued_;
  }
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    auto c = idle_.back();
    idle_.pop_back();
    // The proxy closes idle client connections after a while: never race it.
    if (now - c->idle_since > 10s) {
      beast::error_code ignored;
      c->socket.close(ignored);
      --connections_;
      continue;
    }
    dispatch(c, intended, false);
    return;
  }
  if (connections_ < options_.max_connections) {
    ++connections_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++opened_;
    }
    dispatch(std::make_shared<Connection>(io_), intended, false);
    return;
  }
  if (backlog_.size() - backlog_head_ >= options_.max_backlog) {
    std::lock_guard<std::mutex> lock(mu_);
    ++dropped_;
    return;
  }
  backlog_.push_back(intended);
}

void LoadGenerator::dispatch(const std::shared_ptr<Connection>& c, SteadyTime intended, bool retry) {
  auto send = [this, c, intended, retry] {
    const bool reused = c->answered > 0;
    c->parser.emplace();
    c->parser->body_limit(64 * 1024);
    c->buffer.clear();
    c->timer.expires_after(options_.response_timeout);
    c->timer.async_wait([c](beast::error_code ec) {
      if (!ec) {
        beast::error_code ignored;
        c->socket.close(ignored);
      }
    });
    asio::async_write(c->socket, asio::buffer(request_text_),
                      [this, c, intended, reused, retry](beast::error_code ec, size_t) {
                        if (ec) {
                          c->timer.cancel();
                          finished(c, intended, 0, 0, false, reused && !retry);
                          return;
                        }
                        http::async_read(c->socket, c->buffer, *c->parser,
                                         [this, c, intended, reused, retry](beast::error_code rec, size_t) {
                                           c->timer.cancel();
                                           if (rec) {
                                             finished(c, intended, 0, 0, false, reused && !retry);
                                             return;
                                           }
                                           const auto& res = c->parser->get();
                                           ++c->answered;
                                           finished(c, intended, static_cast<int>(res.result_int()),
                                                    version_index(res.body()), res.keep_alive(), false);
                                         });
                      });
  };
  if (c->connected) {
    send();
    return;
  }
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), options_.port);
  c->socket.async_connect(ep, [this, c, intended, send](beast::error_code ec) {
    if (ec) {
      finished(c, intended, 0, 0, false, false);
      return;
    }
    c->socket.set_option(tcp::no_delay(true));
    c->connected = true;
    send();
  });
}

void LoadGenerator::finished(const std::shared_ptr<Connection>& c, SteadyTime sent, int status,
                             size_t version, bool keep_alive, bool retry_allowed) {
  const auto now = std::chrono::steady_clock::now();
  if (status == 0 && retry_allowed && !stopping_) {
    // A reused keep-alive connection closed under us before any answer: like any HTTP client,
    // send the idempotent GET once more on a new connection.
    beast::error_code ignored;
    c->socket.close(ignored);
    dispatch(std::make_shared<Connection>(io_), sent, true);
    return;
  }
  record(sent, now, status, version);
  if (status != 0 && keep_alive && !stopping_) {
    if (backlog_head_ < backlog_.size()) {
      const SteadyTime next = backlog_[backlog_head_++];
      if (backlog_head_ == backlog_.size()) {
        backlog_.clear();
        backlog_head_ = 0;
      }
      dispatch(c, next, false);
      return;
    }
    c->idle_since = now;
    idle_.push_back(c);
    return;
  }
  beast::error_code ignored;
  c->socket.close(ignored);
  --connections_;  // every pooled connection (or the retry that replaced it) ends here once
  if (backlog_head_ < backlog_.size() && !stopping_ && connections_ < options_.max_connections) {
    const SteadyTime next = backlog_[backlog_head_++];
    ++connections_;
    dispatch(std::make_shared<Connection>(io_), next, false);
  }
}

void LoadGenerator::record(SteadyTime sent, SteadyTime answered, int status, size_t version) {
  const double us = std::chrono::duration<double, std::micro>(answered - sent).count();
  std::lock_guard<std::mutex> lock(mu_);
  ++completed_;
  const size_t a = slot_of(sent), b = slot_of(answered);
  if (slots_.size() <= std::max(a, b)) slots_.resize(std::max(a, b) + 1);
  auto add = [&](TrafficCounts& t) {
    if (status >= 200 && status < 300) {
      ++t.ok[version];
    } else if (status == 0) {
      ++t.failures;
    } else {
      ++t.http_errors;
    }
  };
  add(slots_[a].sent);
  add(slots_[b].answered);
  ++latency_us_[latency_bucket(us)];
  max_latency_ms_ = std::max(max_latency_ms_, us / 1000);
}

TrafficCounts LoadGenerator::between(SteadyTime from, SteadyTime to, bool by_sent) const {
  TrafficCounts out;
  const size_t a = slot_of(from), b = slot_of(to);
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = a; i < b && i < slots_.size(); ++i) out += by_sent ? slots_[i].sent : slots_[i].answered;
  return out;
}

TrafficCounts LoadGenerator::sent_between(SteadyTime from, SteadyTime to) const {
  return between(from, to, true);
}

TrafficCounts LoadGenerator::answered_between(SteadyTime from, SteadyTime to) const {
  return between(from, to, false);
}

LoadGenerator::Totals LoadGenerator::totals() const {
  Totals t;
  std::lock_guard<std::mutex> lock(mu_);
  t.issued = issued_;
  t.dropped = dropped_;
  t.outstanding = issued_ - completed_ - dropped_;
  t.connections = opened_;
  t.late = late_;
  for (const auto& s : slots_) t.counts += s.sent;
  uint64_t n = 0;
  for (auto c : latency_us_) n += c;
  auto quantile = [&](double q) {
    const auto want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
    uint64_t seen = 0;
    for (size_t i = 0; i < latency_us_.size(); ++i) {
      seen += latency_us_[i];
      if (seen >= want && want > 0) return std::pow(kLatencyBase, static_cast<double>(i + 1)) / 1000;
    }
    return 0.0;
  };
  t.p50_ms = quantile(0.5);
  t.p99_ms = quantile(0.99);
  t.max_ms = max_latency_ms_;
  return t;
}

std::shared_future<ProbeResult> LoadGenerator::probe() {
  auto promise = std::make_shared<std::promise<ProbeResult>>();
  std::shared_future<ProbeResult> future = promise->get_future().share();
  asio::post(io_, [this, promise] {
    auto c = std::make_shared<Connection>(io_);
    auto result = std::make_shared<ProbeResult>();
    auto fail = [promise, result, c](const std::string& why) {
      result->answered = std::chrono::steady_clock::now();
      result->error = why;
      beast::error_code ignored;
      c->socket.close(ignored);
      promise->set_value(*result);
    };
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), options_.port);
    c->socket.async_connect(ep, [this, c, result, promise, fail](beast::error_code ec) {
      if (ec) return fail("connect: " + ec.message());
      c->socket.set_option(tcp::no_delay(true));
      c->parser.emplace();
      c->timer.expires_after(options_.response_timeout);
      c->timer.async_wait([c](beast::error_code tec) {
        if (!tec) {
          beast::error_code ignored;
          c->socket.close(ignored);
        }
      });
      result->sent = std::chrono::steady_clock::now();
      asio::async_write(c->socket, asio::buffer(request_text_), [c, result, promise, fail](beast::error_code wec, size_t) {
        if (wec) return fail("write: " + wec.message());
        http::async_read(c->socket, c->buffer, *c->parser, [c, result, promise, fail](beast::error_code rec, size_t) {
          c->timer.cancel();
          if (rec) return fail("read: " + rec.message());
          const auto& res = c->parser->get();
          result->answered = std::chrono::steady_clock::now();
          result->status = static_cast<int>(res.result_int());
          const std::string& body = res.body();
          result->version = body.substr(0, body.find_first_of(" \n"));
          beast::error_code ignored;
          c->socket.close(ignored);
          promise->set_value(*result);
        });
      });
    });
  });
  return future;
}

}  // namespace lockstep::demo
