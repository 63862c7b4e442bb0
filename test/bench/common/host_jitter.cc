// The machine's own noise floor for the latency benchmarks: one thread per online CPU, pinned to
// it, reads the monotonic clock in a tight loop for a while and records every gap between two
// reads longer than --threshold. On a quiet machine the gaps are the time the CPU was taken away
// from a runnable thread: by the kernel (interrupts, other tasks) or, in a virtual machine, by the
// host descheduling the virtual CPU. The thread's involuntary context switches tell the two apart:
// a gap with no switch and no guest wait was the host's (or an interrupt's).
//
// A request in flight during a gap waits it out, so no server on this machine can show a p99 below
// what these gaps impose at the benchmark's rate. scripts/bench-proxy and scripts/bench-scaler run
// it before their latency runs and print its line next to their figures.
//
//   host_jitter [--duration=2s] [--threshold=0.5ms]
//
// It also times what every request on loopback pays the kernel: a bare system call, and a
// wake-up round trip between two threads (a byte over a pipe and back) on one CPU and across two.
// Inside some virtual machines each of these traps to the host and costs several times what it
// does on bare metal, which moves every proxy's CPU per request alike.
//
// Output: one line per CPU, then a summary line with the costs (wakeup_rtt_us: one CPU / across):
//   cpu=0 gaps=3 gaps_per_s=1.5 longest_ms=2.10 lost_pct=0.21 guest_switches=4 guest_wait_ms=0.03
//   host_jitter cpus=2 seconds=2.0 threshold_ms=0.50 gaps_per_s_per_cpu=2.1 longest_ms=4.51
//     lost_pct=0.34 outside_guest_pct=0.30 syscall_ns=1150 wakeup_rtt_us=7.5/24.9  (one line)
// lost_pct is the share of the time in gaps; outside_guest_pct subtracts the time the guest kernel
// itself kept the probe waiting (an estimate of what the host, or interrupts, took).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/duration.h"

namespace {

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct CpuResult {
  int cpu = 0;
  bool pinned = false;
  uint64_t gaps = 0;
  int64_t longest_ns = 0;
  int64_t lost_ns = 0;
  int64_t elapsed_ns = 0;
  long guest_switches = 0;    // involuntary context switches of the probe thread
  int64_t guest_wait_ns = 0;  // time the guest kernel kept it runnable but not running
};

// The probe thread's run-queue wait so far (the second field of /proc/thread-self/schedstat), or
// -1 when the kernel does not expose it.
int64_t guest_wait_ns() {
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return -1;
  unsigned long long run = 0, wait = 0;
  const int n = std::fscanf(f, "%llu %llu", &run, &wait);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(wait) : -1;
}

// Moves the calling thread onto `cpu`; false if the kernel refused.
bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void probe(CpuResult& r, int64_t duration_ns, int64_t threshold_ns) {
  r.pinned = pin_self(r.cpu);
  rusage before{};
  getrusage(RUSAGE_THREAD, &before);
  const int64_t wait_before = guest_wait_ns();
  const int64_t start = mono_ns();
  const int64_t end = start + duration_ns;
  int64_t prev = start;
  while (true) {
    const int64_t now = mono_ns();
    const int64_t gap = now - prev;
    if (gap > threshold_ns) {
      ++r.gaps;
      r.lost_ns += gap;
      r.longest_ns = std::max(r.longest_ns, gap);
    }
    prev = now;
    if (now >= end) break;
  }
  r.elapsed_ns = prev - start;
  rusage after{};
  getrusage(RUSAGE_THREAD, &after);
  r.guest_switches = after.ru_nivcsw - before.ru_nivcsw;
  const int64_t wait_after = guest_wait_ns();
  r.guest_wait_ns = wait_before >= 0 && wait_after >= 0 ? wait_after - wait_before : -1;
}

double syscall_ns() {
  constexpr int kCalls = 200'000;
  const int64_t start = mono_ns();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);  // not cached by the C library
  return static_cast<double>(mono_ns() - start) / kCalls;
}

// One byte to a thread on `cpu_b` over a pipe and back, from `cpu_a`: two wake-ups and four
// system calls. Returns microseconds per round trip, or -1 when pipes fail.
double wakeup_round_trip_us(int cpu_a, int cpu_b) {
  constexpr int kTrips = 10'000;
  int there[2], back[2];
  if (pipe(there) != 0) return -1;
  if (pipe(back) != 0) {
    close(there[0]);
    close(there[1]);
    return -1;
  }
  std::thread echo([&] {
    pin_self(cpu_b);
    char c;
    while (read(there[0], &c, 1) == 1) {
      if (write(back[1], &c, 1) != 1) break;
    }
  });
  pin_self(cpu_a);
  char c = 'x';
  const int64_t start = mono_ns();
  int done = 0;
  for (; done < kTrips; ++done) {
    if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) break;
  }
  const int64_t elapsed = mono_ns() - start;
  close(there[1]);  // the echo thread reads EOF and ends
  echo.join();
  close(there[0]);
  close(back[0]);
  close(back[1]);
  return done == kTrips ? static_cast<double>(elapsed) / 1e3 / kTrips : -1;
}

bool parse_duration_arg(std::string_view arg, std::string_view key, int64_t* ns) {
  if (arg.substr(0, key.size()) != key) return false;
  std::chrono::nanoseconds d{};
  std::string error;
  if (!lockstep::parse_duration(arg.substr(key.size()), d, &error) || d.count() <= 0) {
    std::fprintf(stderr, "host_jitter: %.*s: not a positive duration (e.g. 2s, 500ms)%s%s\n",
                 static_cast<int>(arg.size()), arg.data(), error.empty() ? "" : ": ",
                 error.c_str());
    std::exit(2);
  }
  *ns = d.count();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t duration_ns = 2'000'000'000;
  int64_t threshold_ns = 500'000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (parse_duration_arg(arg, "--duration=", &duration_ns)) continue;
    if (parse_duration_arg(arg, "--threshold=", &threshold_ns)) continue;
    std::fprintf(stderr, "usage: host_jitter [--duration=2s] [--threshold=0.5ms]\n");
    return 2;
  }
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<CpuResult> results(static_cast<size_t>(std::max(1L, cpus)));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    results[i].cpu = static_cast<int>(i);
    threads.emplace_back(probe, std::ref(results[i]), duration_ns, threshold_ns);
  }
  for (auto& t : threads) t.join();

  uint64_t gaps = 0;
  int64_t longest = 0, lost = 0, elapsed = 0, guest_wait = 0;
  for (const auto& r : results) {
    const double secs = static_cast<double>(r.elapsed_ns) / 1e9;
    std::printf(
        "cpu=%d%s gaps=%llu gaps_per_s=%.1f longest_ms=%.2f lost_pct=%.2f guest_switches=%ld "
        "guest_wait_ms=%.2f\n",
        r.cpu, r.pinned ? "" : "(unpinned)", static_cast<unsigned long long>(r.gaps),
        static_cast<double>(r.gaps) / secs, static_cast<double>(r.longest_ns) / 1e6,
        100.0 * static_cast<double>(r.lost_ns) / static_cast<double>(r.elapsed_ns),
        r.guest_switches, static_cast<double>(r.guest_wait_ns) / 1e6);
    gaps += r.gaps;
    longest = std::max(longest, r.longest_ns);
    lost += r.lost_ns;
    elapsed += r.elapsed_ns;
    guest_wait += std::max<int64_t>(0, r.guest_wait_ns);
  }
  const double sys_ns = syscall_ns();
  const double same = wakeup_round_trip_us(0, 0);
  const double cross = results.size() > 1 ? wakeup_round_trip_us(0, 1) : -1;
  const double cpu_secs = static_cast<double>(elapsed) / 1e9;
  std::printf(
      "host_jitter cpus=%zu seconds=%.1f threshold_ms=%.2f gaps_per_s_per_cpu=%.1f "
      "longest_ms=%.2f lost_pct=%.2f outside_guest_pct=%.2f syscall_ns=%.0f "
      "wakeup_rtt_us=%.1f/%.1f\n",
      results.size(), static_cast<double>(duration_ns) / 1e9,
      static_cast<double>(threshold_ns) / 1e6, static_cast<double>(gaps) / cpu_secs,
      static_cast<double>(longest) / 1e6,
      100.0 * static_cast<double>(lost) / static_cast<double>(elapsed),
      100.0 * static_cast<double>(std::max<int64_t>(0, lost - guest_wait)) /
          static_cast<double>(elapsed),
      sys_ns, same, cross);
  return 0;
}
