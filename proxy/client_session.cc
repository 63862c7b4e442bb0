#include "proxy/client_session.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <limits>
#include <optional>
#include <string>

#include "proxy/http_parse.h"
#include "proxy/http_rewrite.h"

namespace lockstep::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;

// How a relayed body is framed on the way out.
enum class Framing : uint8_t {
  kNone,        // no body (GET, HEAD responses, 204, 304)
  kLength,      // Content-Length: bytes as they come
  kChunked,     // chunked: each piece read becomes one chunk
  kUntilClose,  // delimited by closing the connection
};

constexpr asio::use_awaitable_t<Executor> kUse;
inline auto with_ec(error_code& ec) { return asio::redirect_error(kUse, ec); }

// Upstream response heads may be larger than client request heads (cookies, CSP headers).
constexpr uint32_t kUpstreamHeaderLimit = 64 * 1024;
// A refused request's body is read and discarded (to keep the connection) up to this size.
constexpr uint64_t kDiscardLimit = 64 * 1024;
// First read of a request; most request heads fit. Idle connections keep up to 4 KiB.
constexpr size_t kFirstRead = 1024;
constexpr size_t kIdleBufferLimit = 4096;
// Beast 1.74 compares a Content-Length with an empty optional limit as "above the limit", so
// "no limit" is the largest value rather than boost::none.
constexpr uint64_t kNoBodyLimit = std::numeric_limits<uint64_t>::max();

int64_t to_ns(Duration d) { return d.count(); }

bool is_http_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

// Pins the worker's current route table generation while a request uses it.
class GenerationLease {
 public:
  explicit GenerationLease(Worker& w) : w_(w), g_(w.acquire()) {}
  ~GenerationLease() {
    if (g_ != nullptr) w_.release(g_);
  }
  GenerationLease(const GenerationLease&) = delete;
  GenerationLease& operator=(const GenerationLease&) = delete;
  void renew() {
    Generation* n = w_.acquire();
    if (g_ != nullptr) w_.release(g_);
    g_ = n;
  }
  const RouteSnapshot* snapshot() const {
    return g_ != nullptr && g_->snapshot ? g_->snapshot.get() : nullptr;
  }

 private:
  Worker& w_;
  Generation* g_;
};

// A relay buffer borrowed from the worker for one request.
class RelayBuffer {
 public:
  explicit RelayBuffer(Worker& w) : w_(w), buf_(w.take_buffer()) {}
  ~RelayBuffer() { w_.give_buffer(std::move(buf_)); }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;
  char* data() { return buf_.get(); }
  static constexpr size_t size() { return Worker::kRelayBufferSize; }

 private:
  Worker& w_;
  std::unique_ptr<char[]> buf_;
};

// Counts a request against an endpoint's outstanding figure for as long as it lives.
class EndpointUse {
 public:
  EndpointUse(UpstreamPool& pool, const Endpoint& ep) : pool_(pool), ep_(ep) {
    pool_.begin_request(ep_);
  }
  ~EndpointUse() { pool_.end_request(ep_); }
  EndpointUse(const EndpointUse&) = delete;
  EndpointUse& operator=(const EndpointUse&) = delete;

 private:
  UpstreamPool& pool_;
  Endpoint ep_;
};

struct RelayResult {
  error_code read_ec;   // reading from the source failed
  error_code write_ec;  // writing to the destination failed
  bool timed_out = false;
  bool wrote_any = false;  // something reached the destination
};

struct Outcome {
  unsigned status = 0;      // status sent to the client (0: none, connection dropped)
  bool keep_alive = false;  // the client connection may serve another request
};

enum class Phase : uint8_t { kIdle, kReadingHeader, kHandling, kHeld, kClosing };

class ClientSession final : public SessionNode {
 public:
  ClientSession(Worker& w, Socket socket) : w_(w), client_(std::move(socket)) {
    w_.add_session(*this);
    w_.stats().client_connections.inc();
    error_code ec;
    auto remote = client_.remote_endpoint(ec);
    if (!ec) client_ip_ = remote.address().to_string();
    client_.set_option(asio::ip::tcp::no_delay(true), ec);
  }
  ~ClientSession() override {
    w_.stats().client_connections.dec();
    w_.remove_session(*this);
  }

  Task<void> run();

  void on_deadline() override {
    timed_out_ = true;
    cancel_all();
  }
  void close_if_idle() override {
    if (phase_ == Phase::kIdle) cancel_all();
  }
  void force_close() override {
    closed_ = true;
    cancel_all();
    error_code ec;
    client_.close(ec);
    if (upstream_ != nullptr) upstream_->close(ec);
    if (connecting_ != nullptr) connecting_->close(ec);
  }

 private:
  void cancel_all() {
    error_code ec;
    client_.cancel(ec);
    if (upstream_ != nullptr) upstream_->cancel(ec);
    if (connecting_ != nullptr) connecting_->cancel(ec);
    if (hold_timer_ != nullptr) hold_timer_->cancel();
  }
  void arm(Duration d) {
    timed_out_ = false;
    deadline_ns = w_.now_ns() + to_ns(d);
  }
  void disarm() { deadline_ns = 0; }

  Task<bool> handle(RequestParser& parser);
  Task<Outcome> forward(RequestParser& parser, const RequestTarget& target,
                        const BackendEntry& backend, SeriesShard& ss, bool expect_continue,
                        bool client_keep);
  Task<unsigned> hold(GenerationLease& lease, const RouteEntry*& route,
                      const BackendEntry*& backend, SeriesShard& ss);
  // Streams `head` and then the body from `in` to `out`, framed as `framing` says (chunked
  // bodies are re-chunked). `count_to`/`status`: count the status just before the first byte
  // goes out (responses only).
  template <bool isRequest>
  Task<RelayResult> relay(Socket& in, beast::flat_buffer& in_buf,
                          http::parser<isRequest, http::buffer_body>& p, Socket& out,
                          const std::string& head, Framing framing, RelayBuffer& buf,
                          SeriesShard* count_to = nullptr, unsigned status = 0);
  Task<std::unique_ptr<UpstreamConnection>> connect(const Endpoint& ep, UpstreamError& err);
  std::optional<Endpoint> pick_endpoint(const BackendEntry& b, const Endpoint* tried,
                                        size_t ntried);
  void drop(std::unique_ptr<UpstreamConnection>& conn) {
    if (!conn) return;
    if (upstream_ == &conn->socket) upstream_ = nullptr;
    error_code ec;
    conn->socket.close(ec);
    w_.pool().connection_closed();
    conn.reset();
  }

  // Writes a generated response (errors, 404) and reports whether the write succeeded.
  Task<bool> write_simple(unsigned status, bool keep_alive, bool head,
                          std::string_view extra_headers = {});
  // Answers a request that is not forwarded; returns whether the connection may continue.
  Task<bool> refuse(RequestParser& parser, unsigned status, bool keep_alive, bool head,
                    std::string_view extra_headers = {});
  Task<void> on_header_error(error_code ec);
  Task<void> close_client(bool linger);

  Worker& w_;
  Socket client_;
  beast::flat_buffer buf_;
  std::string client_ip_;
  Phase phase_ = Phase::kIdle;
  bool timed_out_ = false;
  bool closed_ = false;
  bool linger_ = false;  // unread request bytes may remain: close gracefully
  Socket* upstream_ = nullptr;
  Socket* connecting_ = nullptr;
  // The upstream response parser lives here rather than in forward()'s frame: frames are
  // allocated per call and a smaller one stays on the allocator's fast path.
  std::optional<ResponseParser> rp_;
  asio::steady_timer* hold_timer_ = nullptr;
};

Task<void> ClientSession::run() {
  bool first = true;
  while (!closed_) {
    error_code ec;
    if (buf_.size() == 0) {
      phase_ = Phase::kIdle;
      // Idle connections keep at most a small read buffer (a large head's buffer is freed).
      if (buf_.capacity() > kIdleBufferLimit) buf_ = beast::flat_buffer();
      if (w_.draining() && !first) break;
      arm(first ? w_.settings().timeouts.header_read : w_.settings().timeouts.idle);
      if (first) {
        // A new connection waits without a buffer, so idle clients cost no read memory.
        co_await client_.async_wait(Socket::wait_read, with_ec(ec));
      } else {
        // Between requests a read, not a wait: Asio re-arms epoll (one epoll_ctl) for every
        // wait operation, while a read first tries the socket and usually finds the request.
        const size_t n = co_await client_.async_read_some(buf_.prepare(kFirstRead), with_ec(ec));
        buf_.commit(n);
      }
      disarm();
      if (ec || closed_) break;
    }
    phase_ = Phase::kReadingHeader;
    RequestParser parser;
    parser.header_limit(w_.settings().limits.max_header_bytes);
    if (w_.settings().limits.max_body_bytes != 0) {
      parser.body_limit(w_.settings().limits.max_body_bytes);
    } else {
      parser.body_limit(kNoBodyLimit);
    }
    arm(w_.settings().timeouts.header_read);
    while (parse_head(buf_, parser, ec) == Parsed::kNeedInput) {
      const size_t n = co_await client_.async_read_some(buf_.prepare(beast::read_size(buf_, 65536)),
                                                        with_ec(ec));
      if (ec == asio::error::eof) on_stream_end(parser, ec);
      if (ec) break;
      buf_.commit(n);
    }
    disarm();
    if (ec) {
      co_await on_header_error(ec);
      break;
    }
    first = false;
    phase_ = Phase::kHandling;
    const bool keep = co_await handle(parser);
    if (!keep) break;
  }
  phase_ = Phase::kClosing;
  co_await close_client(linger_);
}

Task<void> ClientSession::on_header_error(error_code ec) {
  ProcessShard& st = w_.stats();
  const bool got_bytes = buf_.size() != 0;
  unsigned status = 0;
  RejectReason reason = RejectReason::kMalformed;
  if (timed_out_) {
    if (!got_bytes) co_return;  // an idle connection that never sent a request
    status = 408;
    reason = RejectReason::kHeaderTimeout;
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
             ec == asio::error::eof || ec == asio::error::connection_reset ||
             ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
    co_return;  // the client went away
  } else if (ec == http::error::header_limit) {
    status = 431;
    reason = RejectReason::kHeaderTooLarge;
  } else if (ec == http::error::body_limit) {
    status = 413;
    reason = RejectReason::kBodyTooLarge;
  } else if (is_http_error(ec)) {
    status = 400;
  } else {
    co_return;  // socket error
  }
  st.rejects[static_cast<size_t>(reason)].add();
  st.count_unmatched(status);
  // The stream cannot be re-synchronised after an unparseable head: answer and close.
  linger_ = true;
  co_await write_simple(status, false, false);
}

Task<void> ClientSession::close_client(bool linger) {
  error_code ec;
  if (!client_.is_open()) co_return;
  if (linger && !closed_) {
    // Half-close, then discard what the client still sends for a moment, so that our error
    // response is not destroyed by a reset caused by unread data.
    client_.shutdown(Socket::shutdown_send, ec);
    std::array<char, 4096> sink;
    size_t drained = 0;
    arm(std::chrono::seconds(1));
    while (!ec && drained < kDiscardLimit) {
      drained += co_await client_.async_read_some(asio::buffer(sink), with_ec(ec));
    }
    disarm();
  }
  client_.shutdown(Socket::shutdown_both, ec);
  client_.close(ec);
}

Task<bool> ClientSession::write_simple(unsigned status, bool keep_alive, bool head,
                                       std::string_view extra_headers) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  std::string body(reason.data(), reason.size());
  body += '\n';
  std::string msg;
  msg.reserve(160 + extra_headers.size() + body.size());
  msg += "HTTP/1.1 ";
  msg += std::to_string(status);
  msg += ' ';
  msg.append(reason.data(), reason.size());
  msg += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  msg += std::to_string(body.size());
  msg += "\r\n";
  if (!keep_alive) msg += "Connection: close\r\n";
  msg += extra_headers;
  msg += "\r\n";
  if (!head) msg += body;
  error_code ec;
  arm(w_.settings().timeouts.body_idle);
  co_await asio::async_write(client_, asio::buffer(msg), with_ec(ec));
  disarm();
  co_return !ec;
}

Task<bool> ClientSession::refuse(RequestParser& parser, unsigned status, bool keep_alive,
                                 bool head, std::string_view extra_headers) {
  keep_alive = keep_alive && !w_.draining();
  if (keep_alive && !parser.is_done()) {
    // Keep the connection only if the unread body is small and already announced; a client
    // waiting for 100-continue never sends it, so then close instead.
    auto len = parser.content_length();
    const bool waits_continue = parser.get().count(http::field::expect) != 0;
    if (!len || *len > kDiscardLimit || waits_continue) {
      keep_alive = false;
    } else {
      std::array<char, 8192> sink;
      error_code ec;
      size_t starved = kNotStarved;
      arm(w_.settings().timeouts.body_idle);
      while (!parser.is_done() && !ec) {
        parser.get().body().data = sink.data();
        parser.get().body().size = sink.size();
        if (parse_body(buf_, parser, sink.size(), ec, starved) == Parsed::kDone || ec) continue;
        const size_t n = co_await client_.async_read_some(
            buf_.prepare(beast::read_size(buf_, 65536)), with_ec(ec));
        if (ec == asio::error::eof) on_stream_end(parser, ec);
        if (!ec) buf_.commit(n);
      }
      disarm();
      if (ec) co_return false;
    }
  }
  if (!keep_alive && !parser.is_done()) linger_ = true;
  const bool ok = co_await write_simple(status, keep_alive, head, extra_headers);
  co_return ok && keep_alive;
}

Task<bool> ClientSession::handle(RequestParser& parser) {
  auto& req = parser.get();
  const int64_t start_ns = w_.precise_now_ns();
  const bool head = req.method() == http::verb::head;
  const bool client_keep = req.keep_alive();
  ProcessShard& st = w_.stats();

  HostBuffer host_buf;
  std::string_view host;
  RequestTarget target;
  bool expect_continue = false;
  if (auto problem = check_request_head(req, host_buf, host, target, expect_continue)) {
    st.rejects[static_cast<size_t>(problem->reason)].add();
    st.count_unmatched(problem->status);
    co_return co_await refuse(parser, problem->status, client_keep, head);
  }

  GenerationLease lease(w_);
  const RouteSnapshot* snap = lease.snapshot();
  const RouteEntry* route = snap != nullptr ? snap->match(host, target.path) : nullptr;
  if (route == nullptr) {
    st.rejects[static_cast<size_t>(RejectReason::kNoRoute)].add();
    st.count_unmatched(404);
    co_return co_await refuse(parser, 404, client_keep, head);
  }
  const uint32_t bi = route->choose_backend([&req](std::string_view name) {
    auto it = req.find(beast::string_view(name.data(), name.size()));
    return it == req.end() ? std::optional<std::string_view>()
                           : std::optional<std::string_view>(to_sv(it->value()));
  });
  const BackendEntry* backend = &route->backends[bi];
  SeriesCounters& series = *backend->series;
  SeriesShard& ss = series.shard(w_.index());
  RouteShard& rs = route->counters->shard(w_.index());
  ss.requests.add();

  Outcome out;
  if (backend->endpoints.empty()) {
    const unsigned verdict = co_await hold(lease, route, backend, ss);
    if (verdict != 0 || closed_) {
      // Statuses are counted before they are written, so a client that has its response also
      // finds it in /metrics.
      if (verdict == 503) {
        std::string retry = "Retry-After: ";
        const auto secs = std::chrono::ceil<std::chrono::seconds>(w_.settings().retry_after);
        retry += std::to_string(secs.count());
        retry += "\r\n";
        ss.count_status(503);
        out.keep_alive = co_await refuse(parser, 503, client_keep, head, retry);
      } else if (verdict != 0) {
        ss.count_status(verdict);
        out.keep_alive = co_await refuse(parser, verdict, client_keep, head);
      } else {
        ss.count_status(499);
      }
      rs.observe_latency(w_.precise_now_ns() - start_ns);
      co_return out.keep_alive;
    }
  }

  ss.in_flight.inc();
  out = co_await forward(parser, target, *backend, ss, expect_continue, client_keep);
  rp_.reset();  // frees the response head; an idle connection keeps nothing of it
  ss.in_flight.dec();
  // forward() counted every status it sent; a client that vanished before any status is
  // counted as 499, as nginx does.
  if (out.status == 0) ss.count_status(499);
  rs.observe_latency(w_.precise_now_ns() - start_ns);
  co_return out.keep_alive;
}

Task<unsigned> ClientSession::hold(GenerationLease& lease, const RouteEntry*& route,
                                   const BackendEntry*& backend, SeriesShard& ss) {
  RouteCounters& rc = *route->counters;
  RouteShard& rs = rc.shard(w_.index());
  const int64_t max_pending = w_.settings().limits.max_pending_requests;
  // relaxed: the bound needs an exact count, not ordering with other memory.
  if (rc.pending.fetch_add(1, std::memory_order_relaxed) >= max_pending) {
    rc.pending.fetch_sub(1, std::memory_order_relaxed);
    rs.queue_full.add();
    w_.shared().trigger.urgent();  // demand for a cold backend: the scaler must know at once
    co_return 503;
  }
  ss.held.inc();
  w_.shared().trigger.urgent();

  asio::steady_timer timer(w_.executor());
  timer.expires_at(asio::steady_timer::time_point::max());
  HeldRequest h;
  h.route_key = route->key;
  h.service = backend->service;
  h.timer = &timer;
  h.client_fd = client_.native_handle();
  w_.enqueue_held(h);
  hold_timer_ = &timer;
  phase_ = Phase::kHeld;
  arm(w_.settings().timeouts.cold_start);
  unsigned verdict = 0;
  while (true) {
    error_code ec;
    co_await timer.async_wait(with_ec(ec));
    if (h.released) {
      lease.renew();
      const RouteSnapshot* snap = lease.snapshot();
      route = snap != nullptr ? snap->find_route(h.route_key) : nullptr;
      backend = route != nullptr ? route->find_backend(h.service) : nullptr;
      if (backend == nullptr) {
        verdict = 503;  // the route or backend went away while the request waited
        break;
      }
      if (!backend->endpoints.empty()) break;
      h.released = false;
      w_.enqueue_held(h);
      continue;
    }
    if (closed_) break;
    if (h.client_gone) {
      closed_ = true;  // nobody to answer: counted as 499 by the caller
      break;
    }
    if (timed_out_) {
      verdict = 504;
      rs.cold_start_timeouts.add();
      break;
    }
  }
  w_.dequeue_held(h);
  hold_timer_ = nullptr;
  disarm();
  phase_ = Phase::kHandling;
  ss.held.dec();
  rc.pending.fetch_sub(1, std::memory_order_relaxed);
  co_return verdict;
}

std::optional<Endpoint> ClientSession::pick_endpoint(const BackendEntry& b, const Endpoint* tried,
                                                     size_t ntried) {
  auto excluded = [&](const Endpoint& e) {
    for (size_t i = 0; i < ntried; ++i) {
      if (tried[i] == e) return true;
    }
    return false;
  };
  const auto& eps = b.endpoints;
  const size_t n = eps.size();
  if (n == 0) return std::nullopt;
  if (w_.settings().endpoint_pick == EndpointPick::kRoundRobin) {
    // relaxed: only spreads requests; no other memory depends on it.
    const uint64_t start = b.series->rr_next.fetch_add(1, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
      const Endpoint& e = eps[(start + i) % n];
      if (!excluded(e)) return e;
    }
    return std::nullopt;
  }
  if (n == 1) return excluded(eps[0]) ? std::nullopt : std::optional<Endpoint>(eps[0]);
  // Least outstanding of two random picks (worker-local outstanding counts).
  const size_t a = w_.random() % n;
  size_t c = w_.random() % (n - 1);
  if (c >= a) ++c;
  const bool xa = excluded(eps[a]), xc = excluded(eps[c]);
  if (!xa && !xc) {
    return w_.pool().outstanding(eps[c]) < w_.pool().outstanding(eps[a]) ? eps[c] : eps[a];
  }
  if (!xa) return eps[a];
  if (!xc) return eps[c];
  std::optional<Endpoint> best;
  uint32_t best_out = UINT32_MAX;
  for (const auto& e : eps) {
    if (excluded(e)) continue;
    const uint32_t o = w_.pool().outstanding(e);
    if (o < best_out) {
      best = e;
      best_out = o;
    }
  }
  return best;
}

Task<std::unique_ptr<UpstreamConnection>> ClientSession::connect(const Endpoint& ep,
                                                                 UpstreamError& err) {
  auto conn = std::make_unique<UpstreamConnection>(w_.executor(), ep);
  connecting_ = &conn->socket;
  error_code ec;
  arm(w_.settings().timeouts.connect);
  co_await conn->socket.async_connect(ep, with_ec(ec));
  const bool timed_out = timed_out_;
  disarm();
  connecting_ = nullptr;
  if (ec || closed_) {
    err = timed_out ? UpstreamError::kConnectTimeout : UpstreamError::kConnect;
    error_code ignore;
    conn->socket.close(ignore);
    co_return nullptr;
  }
  conn->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  w_.pool().connection_opened();
  co_return conn;
}

template <bool isRequest>
Task<RelayResult> ClientSession::relay(Socket& in, beast::flat_buffer& in_buf,
                                       http::parser<isRequest, http::buffer_body>& p, Socket& out,
                                       const std::string& head, Framing framing, RelayBuffer& buf,
                                       SeriesShard* count_to, unsigned status) {
  RelayResult r;
  const Duration body_idle = w_.settings().timeouts.body_idle;
  static constexpr char kCrlf[] = "\r\n";
  static constexpr char kLastChunk[] = "0\r\n\r\n";
  size_t starved = kNotStarved;
  while (true) {
    error_code ec;
    size_t n = 0;
    bool done = framing == Framing::kNone || p.is_done();
    if (!done) {
      arm(body_idle);
      auto& body = p.get().body();
      body.data = buf.data();
      body.size = buf.size();
      while (parse_body(in_buf, p, buf.size(), ec, starved) == Parsed::kNeedInput) {
        const size_t got = co_await in.async_read_some(
            in_buf.prepare(beast::read_size(in_buf, 65536)), with_ec(ec));
        if (ec == asio::error::eof) {
          on_stream_end(p, ec);
          break;
        }
        if (ec) break;
        in_buf.commit(got);
      }
      n = buf.size() - body.size;
      if (ec) {
        r.read_ec = ec;
        r.timed_out = timed_out_;
        break;
      }
      done = p.is_done();
      if (n == 0 && !done && r.wrote_any) continue;
    }
    // One gathered write: head (first time), chunk framing, data, last chunk.
    std::array<asio::const_buffer, 5> out_bufs{};
    size_t k = 0;
    if (!r.wrote_any) out_bufs[k++] = asio::buffer(head);
    char chunk_head[24];
    if (framing == Framing::kChunked && n != 0) {
      const int len = std::snprintf(chunk_head, sizeof chunk_head, "%zx\r\n", n);
      out_bufs[k++] = asio::buffer(chunk_head, static_cast<size_t>(len));
    }
    if (n != 0) out_bufs[k++] = asio::buffer(buf.data(), n);
    if (framing == Framing::kChunked && n != 0) out_bufs[k++] = asio::buffer(kCrlf, 2);
    if (framing == Framing::kChunked && done) out_bufs[k++] = asio::buffer(kLastChunk, 5);
    if (!r.wrote_any && count_to != nullptr) count_to->count_status(status);
    arm(body_idle);
    co_await asio::async_write(out, out_bufs, with_ec(ec));
    if (ec) {
      r.write_ec = ec;
      r.timed_out = timed_out_;
      break;
    }
    r.wrote_any = true;
    if (done) break;
  }
  disarm();
  co_return r;
}

Task<Outcome> ClientSession::forward(RequestParser& parser, const RequestTarget& target,
                                     const BackendEntry& backend, SeriesShard& ss,
                                     bool expect_continue, bool client_keep) {
  auto& req = parser.get();
  const unsigned client_version = req.version();
  const bool head = req.method() == http::verb::head;
  const bool has_body = !parser.is_done();
  // A request without a body that failed on a reused connection before any response byte may
  // be sent again: the upstream most likely closed the idle connection as we reused it.
  const bool resend_ok = !has_body && is_idempotent(req.method());
  prepare_upstream_request(req, target, client_ip_, w_.settings().trust_forwarded_headers);
  // The head is written once per attempt; framing comes from the parser, not from fields.
  std::string req_head;
  serialize_request_head(req, req_head);
  const Framing req_framing =
      parser.chunked() ? Framing::kChunked : (has_body ? Framing::kLength : Framing::kNone);

  RelayBuffer buf(w_);
  // Endpoints that refused a connection; rarely more than one.
  boost::container::small_vector<Endpoint, 2> tried;
  uint32_t connects = 0;
  bool allow_pool = true;
  bool continue_sent = false;
  Outcome out;
  auto count = [&ss](UpstreamError e) { ss.upstream_errors[static_cast<size_t>(e)].add(); };

  while (true) {
    std::optional<Endpoint> ep = pick_endpoint(backend, tried.data(), tried.size());
    if (!ep) break;
    std::unique_ptr<UpstreamConnection> conn =
        allow_pool ? w_.pool().take(*ep, w_.now_ns()) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      if (connects > w_.settings().upstream_retries) break;
      ++connects;
      UpstreamError err = UpstreamError::kConnect;
      conn = co_await connect(*ep, err);
      if (closed_) {
        drop(conn);
        co_return out;
      }
      if (!conn) {
        // Nothing was sent: moving to another endpoint is safe for every method.
        count(err);
        tried.push_back(*ep);
        continue;
      }
    }
    EndpointUse use(w_.pool(), *ep);
    upstream_ = &conn->socket;
    ++conn->requests;

    if (expect_continue && has_body && !continue_sent) {
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      error_code ec;
      arm(w_.settings().timeouts.body_idle);
      co_await asio::async_write(client_, asio::buffer(k100.data(), k100.size()), with_ec(ec));
      disarm();
      continue_sent = true;
      if (ec) {
        drop(conn);
        co_return out;
      }
    }

    // Request head and body, streamed.
    {
      RelayResult rr =
          co_await relay(client_, buf_, parser, conn->socket, req_head, req_framing, buf);
      if (rr.read_ec) {
        drop(conn);
        if (rr.read_ec == http::error::body_limit) {
          w_.stats().rejects[static_cast<size_t>(RejectReason::kBodyTooLarge)].add();
          linger_ = true;
          out.status = 413;
          ss.count_status(413);
          co_await write_simple(413, false, head);
        }
        co_return out;  // the client went away or stalled mid-body
      }
      if (rr.write_ec) {
        drop(conn);
        if (closed_) co_return out;
        if (reused && resend_ok) {
          allow_pool = false;
          continue;
        }
        count(rr.timed_out ? UpstreamError::kBodyTimeout : UpstreamError::kReset);
        out.status = 502;
        ss.count_status(502);
        // The rest of a request body may still be unread: keep the connection only if not.
        const bool keep = client_keep && !w_.draining() && parser.is_done();
        if (!parser.is_done()) linger_ = true;
        out.keep_alive = co_await write_simple(502, keep, head) && keep;
        co_return out;
      }
    }

    // Response head; informational responses are consumed (100-continue was answered here).
    std::optional<ResponseParser>& rp = rp_;
    error_code ec;
    bool got_response = false;
    while (true) {
      rp.emplace();
      rp->header_limit(kUpstreamHeaderLimit);
      rp->body_limit(kNoBodyLimit);
      if (head) rp->skip(true);
      arm(w_.settings().timeouts.response);
      while (parse_head(conn->buffer, *rp, ec) == Parsed::kNeedInput) {
        const size_t n = co_await conn->socket.async_read_some(
            conn->buffer.prepare(beast::read_size(conn->buffer, 65536)), with_ec(ec));
        if (ec == asio::error::eof) on_stream_end(*rp, ec);
        if (ec) break;
        conn->buffer.commit(n);
      }
      disarm();
      if (ec) break;
      const unsigned code = rp->get().result_int();
      if (code / 100 != 1) {
        got_response = true;
        break;
      }
      if (code == 101) {
        ec = http::error::bad_status;  // no upgrade was asked for (Upgrade is hop-by-hop)
        break;
      }
    }
    if (!got_response) {
      const bool timed_out = timed_out_;
      const bool nothing_received = conn->buffer.size() == 0;
      drop(conn);
      if (closed_) co_return out;
      if (!timed_out && reused && resend_ok && nothing_received &&
          (ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == http::error::partial_message)) {
        allow_pool = false;
        continue;
      }
      const bool protocol = is_http_error(ec) && ec != http::error::end_of_stream &&
                            ec != http::error::partial_message;
      count(timed_out ? UpstreamError::kResponseTimeout
                      : (protocol ? UpstreamError::kProtocol : UpstreamError::kReset));
      out.status = timed_out ? 504 : 502;
      ss.count_status(out.status);
      const bool keep = client_keep && !w_.draining();
      out.keep_alive = co_await write_simple(out.status, keep, head) && keep;
      co_return out;
    }

    auto& res = rp->get();
    const bool upstream_keep = res.keep_alive() && !rp->need_eof();
    bool keep = client_keep && !w_.draining();
    Framing res_framing = Framing::kLength;
    if (rp->is_done()) {
      res_framing = Framing::kNone;  // HEAD, 204, 304, Content-Length: 0
    } else if (rp->chunked() || rp->need_eof()) {
      if (client_version >= 11) {
        res_framing = Framing::kChunked;
        // A body delimited by the upstream closing is re-framed as chunked.
        if (!rp->chunked()) res.insert(http::field::transfer_encoding, "chunked");
      } else {
        res_framing = Framing::kUntilClose;  // HTTP/1.0 has no chunked coding
        keep = false;
      }
    }
    keep = prepare_client_response(res, keep, client_version);
    out.status = res.result_int();
    std::string res_head;
    serialize_response_head(res, res_head);
    RelayResult rr = co_await relay(conn->socket, conn->buffer, *rp, client_, res_head,
                                    res_framing, buf, &ss, out.status);
    if (rr.read_ec) {
      // The upstream failed mid-body: the client sees a truncated response and a close.
      count(rr.timed_out ? UpstreamError::kBodyTimeout : UpstreamError::kReset);
      drop(conn);
      if (!rr.wrote_any) {
        out.status = rr.timed_out ? 504 : 502;
        ss.count_status(out.status);
        co_await write_simple(out.status, false, head);
      }
      out.keep_alive = false;
      co_return out;
    }
    if (rr.write_ec) {
      drop(conn);
      out.keep_alive = false;
      co_return out;
    }
    upstream_ = nullptr;
    if (upstream_keep && !closed_) {
      w_.pool().give_back(std::move(conn), w_.now_ns());
    } else {
      drop(conn);
    }
    out.keep_alive = keep && !closed_;
    co_return out;
  }
  // Every endpoint refused the connection (or none is left to try).
  out.status = 502;
  ss.count_status(502);
  const bool keep = client_keep && !w_.draining() && !has_body;
  out.keep_alive = co_await refuse(parser, 502, keep, head) && keep;
  co_return out;
}

}  // namespace

Task<void> serve_client(Worker& worker, Socket socket) {
  ClientSession session(worker, std::move(socket));
  co_await session.run();
}

}  // namespace lockstep::proxy
