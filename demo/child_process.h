#pragma once

// A child program of the demo (lockstep-scaler, lockstep-proxy, a backend replica): started with
// fork+exec, its stdout/stderr appended to a log file (or stdout to a pipe the caller reads),
// in its own process group, and killed with the demo if the demo dies (PR_SET_PDEATHSIG). The
// destructor terminates it (SIGTERM, then SIGKILL after a grace period) and reaps it.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::demo {

class ChildProcess {
 public:
  struct Options {
    std::string program;
    std::vector<std::string> args;  // without argv[0]
    std::string log_file;           // stderr (and stdout unless pipe_stdout) append here
    bool pipe_stdout = false;       // stdout to a non-blocking pipe read with read_stdout_line()
  };

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts the program. False with the reason (exec failures show up as exit status 127).
  // PR_SET_PDEATHSIG is tied to the calling thread: call this from a thread that outlives the
  // child.
  bool start(const Options& options, std::string* error);

  pid_t pid() const { return pid_; }
  bool running();  // reaps the child if it exited
  // Exit status as a shell shows it (128+signal for a signal), once exited.
  std::optional<int> exit_status() const { return exit_status_; }

  // Appends what the child wrote to its stdout pipe; returns the next complete line if any.
  std::optional<std::string> read_stdout_line();

  void signal(int sig);
  // SIGTERM, wait up to `grace`, then SIGKILL; reaps. Idempotent.
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Waits for the exit up to `timeout`; true when it exited.
  bool wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stdout_buffer_;
  std::optional<int> exit_status_;
};

// Reads a file that a child appends to (its log) and returns the lines added since last time.
class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}
  std::vector<std::string> new_lines();

 private:
  std::string path_;
  size_t offset_ = 0;
  std::string partial_;
};

}  // namespace lockstep::demo
