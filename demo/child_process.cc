#include "demo/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

namespace lockstep::demo {

ChildProcess::~ChildProcess() {
  terminate();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

bool ChildProcess::start(const Options& options, std::string* error) {
  const int log_fd = ::open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    *error = options.log_file + ": " + std::strerror(errno);
    return false;
  }
  int pipe_fds[2] = {-1, -1};
  if (options.pipe_stdout && ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    ::close(log_fd);
    return false;
  }
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_store;
  argv_store.push_back(options.program);
  argv_store.insert(argv_store.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    ::close(log_fd);
    if (pipe_fds[0] >= 0) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
    }
    return false;
  }
  if (pid == 0) {
    // Own process group: a Ctrl-C reaches the demo, which then stops its children in order.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(125);  // the demo already died
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(options.pipe_stdout ? pipe_fds[1] : log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (options.pipe_stdout) {
    ::close(pipe_fds[1]);
    stdout_fd_ = pipe_fds[0];
    ::fcntl(stdout_fd_, F_SETFL, ::fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);
  }
  pid_ = pid;
  exit_status_.reset();
  return true;
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

std::optional<std::string> ChildProcess::read_stdout_line() {
  if (stdout_fd_ >= 0) {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n > 0) {
        stdout_buffer_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {  // EOF: the child closed stdout
        ::close(stdout_fd_);
        stdout_fd_ = -1;
      }
      break;
    }
  }
  const size_t nl = stdout_buffer_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = stdout_buffer_.substr(0, nl);
  stdout_buffer_.erase(0, nl + 1);
  return line;
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !exit_status_) ::kill(pid_, sig);
}

bool ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // waitpid has no timeout; a short poll interval keeps shutdown prompt.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || !running()) return;
  ::kill(pid_, SIGTERM);
  if (wait_exit(grace)) return;
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::milliseconds(5000));
}

std::vector<std::string> LogTail::new_lines() {
  std::vector<std::string> lines;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return lines;
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  if (size < offset_) offset_ = 0;  // truncated
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk(size - offset_, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  offset_ = size;
  partial_ += chunk;
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(partial_.substr(start, nl - start));
  }
  partial_.erase(0, start);
  return lines;
}

}  // namespace lockstep::demo
