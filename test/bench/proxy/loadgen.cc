// proxy_loadgen: an HTTP/1.1 keep-alive load driver for the proxy benchmarks.
//
// Closed loop (like wrk): every connection sends its next request when the previous response
// is in. Open loop (--rate, like wrk2): requests are due at a constant total rate spread over
// the connections, and latency is measured from the moment a request was due, so a stalled
// server is charged for the requests it delayed (no coordinated omission).
// Idle mode (--idle): opens N connections, sends nothing, holds them for --hold.
//
// The driver shares the machine's cores with the proxy and the backend it measures, so it must
// cost little per request: each thread runs one epoll loop over plain non-blocking sockets
// (one send and one or two recv per request, one epoll_pwait2 per wake-up whose timeout is the
// next due request, no timer per request). An earlier Asio-coroutine version spent 40-60 us of
// CPU per request (a timerfd update and a failed speculative read each time), more than the
// proxies it measured, so at a fixed rate it competed with them for the CPU.
//
//   proxy_loadgen --target=127.0.0.1:8080 --host=bench.local --connections=50 --duration=5s
//                 [--rate=20000] [--threads=1] [--warmup=1s] [--path=/]
//   proxy_loadgen --target=127.0.0.1:8080 --idle=10000 --hold=5s
// Prints one line of key=value figures (requests, errors, rps, p50/p90/p99/p999/max in us,
// and cpu_us_per_request: this driver's own CPU time per request).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/duration.h"

namespace {

using Clock = std::chrono::steady_clock;
using Ns = std::chrono::nanoseconds;

struct Options {
  std::string host_port = "127.0.0.1:8080";
  std::string host = "bench.local";
  std::string path = "/";
  int connections = 50;
  int threads = 1;
  double rate = 0;  // 0: closed loop
  Ns duration = std::chrono::seconds(5);
  Ns warmup = std::chrono::seconds(1);
  int idle = 0;
  Ns hold = std::chrono::seconds(5);
};

struct ThreadStats {
  std::vector<uint32_t> latency_us;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t completed = 0;  // warm-up included, for the CPU figure
};

// Incremental HTTP/1.1 response reader: Content-Length and chunked bodies (no trailers).
class ResponseReader {
 public:
  enum class Result { kNeedMore, kDone, kBad };

  void reset() { state_ = State::kHead; }
  // Consumes from `buf` what belongs to the current response.
  Result feed(std::string& buf) {
    while (true) {
      switch (state_) {
        case State::kHead: {
          const size_t end = buf.find("\r\n\r\n");
          if (end == std::string::npos) return buf.size() > 65536 ? Result::kBad : Result::kNeedMore;
          if (buf.compare(0, 5, "HTTP/") != 0 || buf.size() < 12) return Result::kBad;
          status_ = std::atoi(buf.c_str() + 9);
          std::string head = buf.substr(0, end);
          for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          buf.erase(0, end + 4);
          if (head.find("transfer-encoding: chunked") != std::string::npos) {
            state_ = State::kChunkSize;
          } else if (auto cl = head.find("content-length:"); cl != std::string::npos) {
            remaining_ = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
            state_ = State::kBody;
          } else {
            return Result::kDone;  // no body (this driver never sends HEAD; 204/304 here)
          }
          break;
        }
        case State::kBody:
          return skip_remaining(buf) ? Result::kDone : Result::kNeedMore;
        case State::kChunkSize: {
          const size_t line = buf.find("\r\n");
          if (line == std::string::npos) return Result::kNeedMore;
          remaining_ = std::strtoull(buf.c_str(), nullptr, 16);
          buf.erase(0, line + 2);
          state_ = remaining_ == 0 ? State::kLastCrlf : State::kChunkData;
          break;
        }
        case State::kChunkData: {
          if (!skip_remaining(buf)) return Result::kNeedMore;
          state_ = State::kChunkCrlf;
          break;
        }
        case State::kChunkCrlf:
        case State::kLastCrlf: {
          if (buf.size() < 2) return Result::kNeedMore;
          buf.erase(0, 2);
          if (state_ == State::kLastCrlf) return Result::kDone;
          state_ = State::kChunkSize;
          break;
        }
      }
    }
  }
  int status() const { return status_; }

 private:
  // Drops up to remaining_ bytes of body from buf; true once all of them are gone.
  bool skip_remaining(std::string& buf) {
    const size_t n = std::min<uint64_t>(remaining_, buf.size());
    buf.erase(0, n);
    remaining_ -= n;
    return remaining_ == 0;
  }

  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkCrlf, kLastCrlf };
  State state_ = State::kHead;
  uint64_t remaining_ = 0;
  int status_ = 0;
};

struct Connection {
  int fd = -1;
  int index = 0;       // global connection index: its requests are due at index + k*connections
  uint64_t next = 0;   // sequence number (per connection) of the next request to send
  bool busy = false;   // a request is out
  bool connecting = false;
  Clock::time_point due;  // of the request that is out
  std::string in;
  ResponseReader reader;
};

int64_t ns_since(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<Ns>(b - a).count();
}

class Driver {
 public:
  Driver(const Options& o, const sockaddr_in& addr, Clock::time_point start, ThreadStats& st)
      : o_(o), addr_(addr), start_(start), st_(st),
        request_("GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"),
        end_(start + o.warmup + o.duration), measure_from_(start + o.warmup),
        period_ns_(o.rate > 0 ? 1e9 / o.rate : 0) {}

  void run(int first, int step) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (int c = first; c < o_.connections; c += step) {
      Connection conn;
      conn.index = c;
      conns_.push_back(std::move(conn));
    }
    std::vector<epoll_event> events(conns_.size() + 1);
    while (true) {
      const auto now = Clock::now();
      bool active = false;
      Clock::time_point wake = Clock::time_point::max();
      for (auto& c : conns_) {
        if (c.busy || c.connecting) {
          active = true;
          continue;
        }
        const auto due = due_of(c, now);
        if (due >= end_) continue;
        active = true;
        if (due <= now) {
          send_request(c, due);
          if (!c.busy && !c.connecting) wake = std::min(wake, now);  // failed: retry next round
        } else {
          wake = std::min(wake, due);
        }
      }
      if (!active) break;
      timespec ts{};
      timespec* tsp = nullptr;
      if (wake != Clock::time_point::max()) {
        const int64_t wait = std::max<int64_t>(0, ns_since(Clock::now(), wake));
        ts.tv_sec = wait / 1'000'000'000;
        ts.tv_nsec = wait % 1'000'000'000;
        tsp = &ts;
      }
      const int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), tsp, nullptr);
      for (int i = 0; i < n; ++i) on_event(conns_[events[i].data.u32], events[i].events);
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    ::close(ep_);
  }

 private:
  // The next request's due time: open loop, fixed schedule; closed loop, now.
  Clock::time_point due_of(const Connection& c, Clock::time_point now) const {
    if (o_.rate <= 0) return now;
    const double k = static_cast<double>(c.next) * o_.connections + c.index;
    return start_ + Ns(static_cast<int64_t>(period_ns_ * k));
  }

  bool open(Connection& c) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.in.clear();
    c.reader.reset();
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) == 0) {
      watch(c, EPOLL_CTL_ADD, EPOLLIN);
      return true;
    }
    if (errno == EINPROGRESS) {
      c.connecting = true;
      watch(c, EPOLL_CTL_ADD, EPOLLOUT);
      return true;
    }
    ::close(c.fd);
    c.fd = -1;
    return false;
  }

  void close_conn(Connection& c) {
    if (c.fd >= 0) {
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.busy = false;
    c.connecting = false;
  }

  // Sends the request due at `due` (connecting first if needed).
  void send_request(Connection& c, Clock::time_point due) {
    c.due = due;
    if (c.fd < 0) {
      if (!open(c)) {
        finish(c, 0);
        return;
      }
      if (c.connecting) return;  // sent on EPOLLOUT
    }
    write_request(c);
  }

  void write_request(Connection& c) {
    const ssize_t n = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(request_.size())) {  // a 40-byte write into an empty socket
      close_conn(c);
      finish(c, 0);
      return;
    }
    c.busy = true;
  }

  // Level-triggered: EPOLLOUT only while connecting, EPOLLIN afterwards.
  void watch(Connection& c, int op, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
    ::epoll_ctl(ep_, op, c.fd, &ev);
  }

  void on_event(Connection& c, uint32_t events) {
    if (c.fd < 0) return;
    if (c.connecting) {
      if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
        close_conn(c);
        finish(c, 0);
        return;
      }
      if ((events & EPOLLOUT) == 0) return;
      c.connecting = false;
      watch(c, EPOLL_CTL_MOD, EPOLLIN);
      write_request(c);
      return;
    }
    if (!c.busy) {  // an unsolicited close or bytes between responses
      close_conn(c);
      return;
    }
    char tmp[16384];
    const ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      close_conn(c);
      finish(c, 0);
      return;
    }
    c.in.append(tmp, static_cast<size_t>(n));
    switch (c.reader.feed(c.in)) {
      case ResponseReader::Result::kNeedMore:
        return;
      case ResponseReader::Result::kBad:
        close_conn(c);
        finish(c, 0);
        return;
      case ResponseReader::Result::kDone: {
        const int status = c.reader.status();
        c.reader.reset();
        finish(c, status);
        return;
      }
    }
  }

  void finish(Connection& c, int status) {
    const auto done = Clock::now();
    ++c.next;
    c.busy = false;
    ++st_.completed;
    if (c.due < measure_from_) return;
    if (status == 200) {
      ++st_.ok;
      st_.latency_us.push_back(static_cast<uint32_t>(
          std::min<int64_t>(ns_since(c.due, done) / 1000, UINT32_MAX)));
    } else {
      ++st_.errors;
    }
  }

  const Options& o_;
  const sockaddr_in addr_;
  const Clock::time_point start_;
  ThreadStats& st_;
  const std::string request_;
  const Clock::time_point end_;
  const Clock::time_point measure_from_;
  const double period_ns_;
  int ep_ = -1;
  std::vector<Connection> conns_;
};

int run_idle(const Options& o, const sockaddr_in& addr) {
  std::vector<int> fds;
  int failed = 0;
  for (int i = 0; i < o.idle; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) ::close(fd);
      ++failed;
      continue;
    }
    fds.push_back(fd);
  }
  std::printf("established=%zu failed=%d\n", fds.size(), failed);
  std::fflush(stdout);
  std::this_thread::sleep_for(o.hold);
  for (int fd : fds) ::close(fd);
  return failed == 0 ? 0 : 1;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* key) -> const char* {
      const size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? a.c_str() + n : nullptr;
    };
    std::string why;
    if (auto v = val("--target=")) {
      o.host_port = v;
    } else if (auto v = val("--host=")) {
      o.host = v;
    } else if (auto v = val("--path=")) {
      o.path = v;
    } else if (auto v = val("--connections=")) {
      o.connections = std::atoi(v);
    } else if (auto v = val("--threads=")) {
      o.threads = std::atoi(v);
    } else if (auto v = val("--rate=")) {
      o.rate = std::atof(v);
    } else if (auto v = val("--idle=")) {
      o.idle = std::atoi(v);
    } else if (auto v = val("--duration=")) {
      if (!lockstep::parse_duration(v, o.duration, &why)) return false;
    } else if (auto v = val("--warmup=")) {
      if (!lockstep::parse_duration(v, o.warmup, &why)) return false;
    } else if (auto v = val("--hold=")) {
      if (!lockstep::parse_duration(v, o.hold, &why)) return false;
    } else {
      return false;
    }
  }
  return o.connections > 0 && o.threads > 0 && o.rate >= 0;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: proxy_loadgen --target=IP:PORT [--host=H] [--path=/] [--connections=N] "
                 "[--threads=N] [--rate=R] [--duration=5s] [--warmup=1s] | --idle=N --hold=5s\n");
    return 2;
  }
  const auto colon = o.host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(o.host_port.c_str() + colon + 1)));
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, o.host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "--target must be IPv4:PORT\n");
    return 2;
  }
  if (o.idle > 0) return run_idle(o, addr);
  // Timeouts of the event loop are the request schedule: no 50 us timer slack on them.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  std::vector<ThreadStats> stats(o.threads);
  std::vector<std::thread> threads;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const double cpu_before = cpu_seconds();
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] { Driver(o, addr, start, stats[t]).run(t, o.threads); });
  }
  for (auto& th : threads) th.join();
  const double cpu = cpu_seconds() - cpu_before;
  std::vector<uint32_t> all;
  uint64_t ok = 0, errors = 0, completed = 0;
  for (auto& s : stats) {
    completed += s.completed;
    all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
    ok += s.ok;
    errors += s.errors;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) -> uint32_t {
    if (all.empty()) return 0;
    return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  const double secs = std::chrono::duration<double>(o.duration).count();
  std::printf(
      "requests=%llu errors=%llu rps=%.0f p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u "
      "loadgen_cpu_us_per_request=%.1f\n",
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
      static_cast<double>(ok) / secs, pct(0.5), pct(0.9), pct(0.99), pct(0.999),
      all.empty() ? 0 : all.back(),
      completed > 0 ? cpu * 1e6 / static_cast<double>(completed) : 0.0);
  return 0;
}
