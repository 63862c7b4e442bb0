// proxy_loadgen: an HTTP/1.1 keep-alive load driver for the proxy benchmarks.
//
// Closed loop (like wrk): every connection sends its next request when the previous response
// is in. Open loop (--rate, like wrk2): requests are due at a constant total rate spread over
// the connections, and latency is measured from the moment a request was due, so a stalled
// server is charged for the requests it delayed (no coordinated omission).
// Idle mode (--idle): opens N connections, sends nothing, holds them for --hold.
//
//   proxy_loadgen --target=127.0.0.1:8080 --host=bench.local --connections=50 --duration=5s
//                 [--rate=20000] [--threads=1] [--warmup=1s] [--path=/]
//   proxy_loadgen --target=127.0.0.1:8080 --idle=10000 --hold=5s
// Prints one line of key=value figures.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/duration.h"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host_port = "127.0.0.1:8080";
  std::string host = "bench.local";
  std::string path = "/";
  int connections = 50;
  int threads = 1;
  double rate = 0;  // 0: closed loop
  std::chrono::nanoseconds duration = std::chrono::seconds(5);
  std::chrono::nanoseconds warmup = std::chrono::seconds(1);
  int idle = 0;
  std::chrono::nanoseconds hold = std::chrono::seconds(5);
};

struct ThreadStats {
  std::vector<uint32_t> latency_us;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;
};

// Reads one response; returns its status (0 on failure). Handles Content-Length and chunked.
asio::awaitable<int> read_response(tcp::socket& s, std::string& buf, uint64_t& bytes) {
  error_code ec;
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[16384];
    size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return 0;
    buf.append(tmp, n);
  }
  const int status = std::atoi(buf.c_str() + 9);
  std::string head = buf.substr(0, header_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  buf.erase(0, header_end + 4);
  auto cl = head.find("content-length:");
  if (cl != std::string::npos) {
    const size_t len = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
    while (buf.size() < len) {
      char tmp[16384];
      size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return 0;
      buf.append(tmp, n);
    }
    bytes += len;
    buf.erase(0, len);
  } else if (head.find("transfer-encoding: chunked") != std::string::npos) {
    while (true) {
      size_t line;
      while ((line = buf.find("\r\n")) == std::string::npos) {
        char tmp[16384];
        size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return 0;
        buf.append(tmp, n);
      }
      const size_t len = std::strtoull(buf.c_str(), nullptr, 16);
      while (buf.size() < line + 2 + len + 2) {
        char tmp[16384];
        size_t n = co_await s.async_read_some(asio::buffer(tmp), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return 0;
        buf.append(tmp, n);
      }
      buf.erase(0, line + 2 + len + 2);
      bytes += len;
      if (len == 0) break;
    }
  }
  co_return status;
}

asio::awaitable<void> connection(asio::io_context& io, const Options& o, tcp::endpoint ep, int index,
                                 Clock::time_point start, ThreadStats& st) {
  const std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n";
  const auto end = start + o.warmup + o.duration;
  const auto measure_from = start + o.warmup;
  tcp::socket s(io);
  error_code ec;
  std::string buf;
  bool open = false;
  asio::steady_timer timer(io);
  const double period_ns = o.rate > 0 ? 1e9 * o.connections / o.rate : 0;
  for (uint64_t i = 0;; ++i) {
    Clock::time_point due;
    if (o.rate > 0) {
      due = start + std::chrono::nanoseconds(static_cast<int64_t>(
                        period_ns * static_cast<double>(i) + period_ns * index / o.connections));
      if (due >= end) break;
      if (Clock::now() < due) {
        timer.expires_at(due);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    } else {
      due = Clock::now();
      if (due >= end) break;
    }
    if (!open) {
      s = tcp::socket(io);
      co_await s.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ++st.errors;
        continue;
      }
      s.set_option(tcp::no_delay(true));
      buf.clear();
      open = true;
    }
    co_await asio::async_write(s, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
    int status = 0;
    if (!ec) status = co_await read_response(s, buf, st.bytes);
    const auto done = Clock::now();
    if (status == 0) {
      open = false;
      s.close(ec);
    }
    if (due < measure_from) continue;
    if (status == 200) {
      ++st.ok;
      st.latency_us.push_back(static_cast<uint32_t>(
          std::min<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(done - due).count(),
                            UINT32_MAX)));
    } else {
      ++st.errors;
    }
  }
  s.close(ec);
}

int run_idle(const Options& o, tcp::endpoint ep) {
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  int failed = 0;
  for (int i = 0; i < o.idle; ++i) {
    auto s = std::make_unique<tcp::socket>(io);
    error_code ec;
    s->connect(ep, ec);
    if (ec) {
      ++failed;
      continue;
    }
    sockets.push_back(std::move(s));
  }
  std::printf("established=%zu failed=%d\n", sockets.size(), failed);
  std::fflush(stdout);
  std::this_thread::sleep_for(o.hold);
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
  return o.connections > 0 && o.threads > 0;
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
  tcp::endpoint ep(asio::ip::make_address(o.host_port.substr(0, colon)),
                   static_cast<uint16_t>(std::stoi(o.host_port.substr(colon + 1))));
  if (o.idle > 0) return run_idle(o, ep);

  std::vector<ThreadStats> stats(o.threads);
  std::vector<std::thread> threads;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      asio::io_context io(1);
      for (int c = t; c < o.connections; c += o.threads) {
        asio::co_spawn(io, connection(io, o, ep, c, start, stats[t]), asio::detached);
      }
      io.run();
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint32_t> all;
  uint64_t ok = 0, errors = 0;
  for (auto& s : stats) {
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
  std::printf("requests=%llu errors=%llu rps=%.0f p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u\n",
              static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
              static_cast<double>(ok) / secs, pct(0.5), pct(0.9), pct(0.99), pct(0.999),
              all.empty() ? 0 : all.back());
  return 0;
}
