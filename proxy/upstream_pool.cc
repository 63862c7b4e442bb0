#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <cerrno>
#include <unordered_set>

namespace lockstep::proxy {

size_t EndpointHash::operator()(const Endpoint& ep) const {
  size_t h = ep.port();
  const auto addr = ep.address();
  if (addr.is_v4()) {
    h ^= static_cast<size_t>(addr.to_v4().to_uint()) * 0x9e3779b97f4a7c15ull;
  } else {
    for (auto b : addr.to_v6().to_bytes()) h = h * 131 + b;
  }
  return h;
}

UpstreamPool::~UpstreamPool() { close_all(); }

namespace {

// An idle keep-alive connection is usable only while the upstream has sent nothing: EOF (it
// closed), an error, or bytes (e.g. an unsolicited 408 before closing) all make it unusable.
bool still_open(UpstreamConnection& conn) {
  char c;
  const ssize_t n = ::recv(conn.socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const Endpoint& ep, int64_t now_ns) {
  auto it = slots_.find(ep);
  if (it == slots_.end()) return nullptr;
  auto& idle = it->second.idle;
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    stats_.upstream_idle.dec();
    if (conn->idle_since_ns < now_ns && !still_open(*conn)) {
      boost::system::error_code ec;
      conn->socket.close(ec);
      stats_.upstream_stale.add();
      continue;
    }
    stats_.upstream_active.inc();
    return conn;
  }
  return nullptr;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> conn, int64_t now_ns) {
  stats_.upstream_active.dec();
  auto it = slots_.find(conn->endpoint);
  // Endpoints pruned while the request ran have no slot: close instead of pooling.
  if (it == slots_.end() || it->second.idle.size() >= max_idle_ || conn->buffer.size() != 0) {
    boost::system::error_code ec;
    conn->socket.close(ec);
    return;
  }
  conn->idle_since_ns = now_ns;
  it->second.idle.push_back(std::move(conn));
  stats_.upstream_idle.inc();
}

uint32_t UpstreamPool::outstanding(const Endpoint& ep) const {
  auto it = slots_.find(ep);
  return it == slots_.end() ? 0 : it->second.outstanding;
}

void UpstreamPool::begin_request(const Endpoint& ep) { ++slots_[ep].outstanding; }

void UpstreamPool::end_request(const Endpoint& ep) {
  auto it = slots_.find(ep);
  if (it != slots_.end() && it->second.outstanding > 0) --it->second.outstanding;
}

void UpstreamPool::close_idle_before(int64_t cutoff_ns) {
  for (auto& [ep, slot] : slots_) {
    size_t n = 0;
    while (n < slot.idle.size() && slot.idle[n]->idle_since_ns < cutoff_ns) ++n;
    if (n == 0) continue;
    for (size_t i = 0; i < n; ++i) {
      boost::system::error_code ec;
      slot.idle[i]->socket.close(ec);
    }
    slot.idle.erase(slot.idle.begin(), slot.idle.begin() + static_cast<std::ptrdiff_t>(n));
    for (size_t i = 0; i < n; ++i) stats_.upstream_idle.dec();
  }
}

void UpstreamPool::prune(const RouteSnapshot& snapshot) {
  std::unordered_set<Endpoint, EndpointHash> live;
  for (const auto& r : snapshot.routes()) {
    for (const auto& b : r.backends) live.insert(b.endpoints.begin(), b.endpoints.end());
  }
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (live.count(it->first) != 0 || it->second.outstanding != 0) {
      ++it;
      continue;
    }
    for (auto& c : it->second.idle) {
      boost::system::error_code ec;
      c->socket.close(ec);
      stats_.upstream_idle.dec();
    }
    it = slots_.erase(it);
  }
}

void UpstreamPool::close_all() {
  for (auto& [ep, slot] : slots_) {
    for (auto& c : slot.idle) {
      boost::system::error_code ec;
      c->socket.close(ec);
      stats_.upstream_idle.dec();
    }
    slot.idle.clear();
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [ep, slot] : slots_) n += slot.idle.size();
  return n;
}

}  // namespace lockstep::proxy
