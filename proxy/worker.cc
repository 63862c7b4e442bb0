#include "proxy/worker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>

#include <cerrno>

#include "proxy/client_session.h"

namespace lockstep::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr size_t kMaxFreeBuffers = 32;

int64_t steady_ns(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock.steady_now().time_since_epoch())
      .count();
}

}  // namespace

Worker::Worker(uint32_t index, WorkerShared& shared)
    : index_(index),
      shared_(shared),
      // UNSAFE_IO: sockets are only touched by this worker's thread, so the reactor needs no
      // per-descriptor locks; posting from other threads (route tables, drain) stays safe.
      ioc_(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      pool_(shared.settings.limits.max_idle_per_endpoint, shared.counters.process(index)),
      now_ns_(steady_ns(shared.clock)),
      rng_(0x9e3779b97f4a7c15ull * (index + 1) ^ static_cast<uint64_t>(now_ns_)) {}

Worker::~Worker() {
  if (thread_.joinable()) {
    post([this] {
      stopping_ = true;
      error_code ec;
      if (acceptor_) acceptor_->close(ec);
      for (auto& s : sessions_) s.force_close();
      for (auto& h : held_) {
        if (h.timer != nullptr) h.timer->cancel();
      }
      if (sweep_timer_) sweep_timer_->cancel();
      pool_.close_all();
    });
    // Sessions unwind with errors and end; then run() returns for lack of work.
    thread_.join();
  }
  pool_.close_all();
  acceptor_.reset();
  sweep_timer_.reset();
  ioc_.reset();  // destroys anything still pending (and the frames of suspended sessions)
}

void Worker::listen(const Endpoint& at, bool reuse_port) {
  acceptor_.emplace(ioc_->get_executor());
  acceptor_->open(at.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    int one = 1;
    if (::setsockopt(acceptor_->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      throw boost::system::system_error(error_code(errno, boost::system::system_category()),
                                        "SO_REUSEPORT");
    }
  }
  acceptor_->bind(at);
  acceptor_->listen(asio::socket_base::max_listen_connections);
}

Endpoint Worker::local_endpoint() const { return acceptor_->local_endpoint(); }

void Worker::start() {
  sweep_timer_.emplace(ioc_->get_executor());
  arm_sweep();
  asio::co_spawn(
      ioc_->get_executor(),
      [this]() -> Task<void> {
        constexpr asio::use_awaitable_t<Executor> use;
        while (acceptor_ && acceptor_->is_open()) {
          Socket socket(ioc_->get_executor());
          error_code ec;
          co_await acceptor_->async_accept(socket, asio::redirect_error(use, ec));
          if (ec) {
            if (!acceptor_->is_open() || stopping_) break;
            if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory) {
              // Out of file descriptors: back off for a tick rather than spin.
              asio::steady_timer pause(ioc_->get_executor(), std::chrono::milliseconds(50));
              co_await pause.async_wait(asio::redirect_error(use, ec));
            }
            continue;
          }
          const uint32_t max = shared_.settings.limits.max_client_connections;
          // relaxed: an exact count is all the limit needs.
          if (max != 0 &&
              shared_.client_connections.fetch_add(1, std::memory_order_relaxed) >= max) {
            shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
            stats().rejects[static_cast<size_t>(RejectReason::kTooManyConnections)].add();
            socket.close(ec);
            continue;
          }
          asio::co_spawn(
              ioc_->get_executor(),
              [this, s = std::move(socket), max]() mutable -> Task<void> {
                co_await serve_client(*this, std::move(s));
                if (max != 0) shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
              },
              asio::detached);
        }
      },
      asio::detached);
  thread_ = std::thread([this] { ioc_->run(); });
}

void Worker::post(std::function<void()> fn) { asio::post(ioc_->get_executor(), std::move(fn)); }

void Worker::apply(std::shared_ptr<const RouteSnapshot> snapshot, std::function<void()> applied) {
  post([this, snapshot = std::move(snapshot), applied = std::move(applied)]() mutable {
    on_apply(std::move(snapshot));
    if (applied) applied();
  });
}

void Worker::on_apply(std::shared_ptr<const RouteSnapshot> snapshot) {
  if (current_ && current_->users > 0) retired_.push_back(std::move(current_));
  current_ = std::make_unique<Generation>();
  current_->snapshot = std::move(snapshot);
  const RouteSnapshot& snap = *current_->snapshot;
  // Release held requests in arrival order whose backend now has endpoints (or is gone).
  for (auto it = held_.begin(); it != held_.end();) {
    HeldRequest& h = *it;
    const RouteEntry* r = snap.find_route(h.route_key);
    const BackendEntry* b = r != nullptr ? r->find_backend(h.service) : nullptr;
    if (b == nullptr || !b->endpoints.empty()) {
      it = held_.erase(it);
      h.released = true;
      h.timer->cancel();
    } else {
      ++it;
    }
  }
  pool_.prune(snap);
}

Generation* Worker::acquire() {
  if (!current_) return nullptr;
  ++current_->users;
  return current_.get();
}

void Worker::release(Generation* g) {
  --g->users;
  if (g != current_.get() && g->users == 0) {
    for (auto it = retired_.begin(); it != retired_.end(); ++it) {
      if (it->get() == g) {
        retired_.erase(it);
        break;
      }
    }
  }
}

void Worker::dequeue_held(HeldRequest& h) {
  if (h.is_linked()) held_.erase(held_.iterator_to(h));
}

void Worker::add_session(SessionNode& s) {
  sessions_.push_back(s);
  open_sessions_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::remove_session(SessionNode& s) {
  s.unlink();
  open_sessions_.fetch_sub(1, std::memory_order_relaxed);
}

std::unique_ptr<char[]> Worker::take_buffer() {
  if (free_buffers_.empty()) return std::unique_ptr<char[]>(new char[kRelayBufferSize]);
  auto b = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return b;
}

void Worker::give_buffer(std::unique_ptr<char[]> b) {
  if (b && free_buffers_.size() < kMaxFreeBuffers) free_buffers_.push_back(std::move(b));
}

int64_t Worker::precise_now_ns() const { return steady_ns(shared_.clock); }

uint64_t Worker::random() {
  // xorshift64*: worker-local, good enough to pick two endpoints.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dull;
}

void Worker::stop_accepting() {
  post([this] {
    error_code ec;
    if (acceptor_) acceptor_->close(ec);
  });
}

void Worker::close_idle() {
  post([this] {
    for (auto& s : sessions_) s.close_if_idle();
    pool_.close_all();
  });
}

void Worker::force_close() {
  post([this] {
    for (auto& s : sessions_) s.force_close();
  });
}

void Worker::arm_sweep() {
  sweep_timer_->expires_after(shared_.settings.timer_resolution);
  sweep_timer_->async_wait([this](error_code ec) {
    if (ec || stopping_) return;
    sweep();
    arm_sweep();
  });
}

void Worker::sweep() {
  now_ns_ = steady_ns(shared_.clock);
  // on_deadline may not unlink sessions (they end later, on their own coroutine), so a plain
  // iteration is safe.
  for (auto& s : sessions_) {
    if (s.deadline_ns != 0 && now_ns_ >= s.deadline_ns) {
      s.deadline_ns = 0;
      s.on_deadline();
    }
  }
  pool_.close_idle_before(now_ns_ - shared_.settings.timeouts.upstream_idle.count());
  // A held request whose client hung up must not occupy a maxPendingRequests slot or count as
  // demand until coldStartTimeout: one non-blocking peek per held request and tick finds EOF.
  for (auto& h : held_) {
    if (h.client_gone || h.client_fd < 0) continue;
    char c;
    const ssize_t n = ::recv(h.client_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      h.client_gone = true;
      h.timer->cancel();
    }
  }
}

}  // namespace lockstep::proxy
