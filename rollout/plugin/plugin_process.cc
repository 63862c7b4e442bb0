#include "rollout/plugin/plugin_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace lockstep::plugin {
namespace {

bool parse_int(std::string_view text, long& out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

Environment environment_from(char** envp) {
  Environment env;
  for (char** p = envp; p && *p; ++p) {
    const std::string_view entry(*p);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::string_view env_or(const Environment& env, std::string_view key, std::string_view fallback) {
  const auto it = env.find(key);
  return it == env.end() || it->second.empty() ? fallback : std::string_view(it->second);
}

bool has_magic_cookie(const Environment& env) {
  const auto it = env.find(kMagicCookieKey);
  return it != env.end() && it->second == kMagicCookieValue;
}

std::string_view not_a_plugin_message() {
  return "This binary is a plugin. These are not meant to be executed directly.\n"
         "Please execute the program that consumes these plugins, which will\n"
         "load any plugins automatically\n";
}

VersionChoice negotiate_version(const Environment& env, const std::vector<int>& supported) {
  VersionChoice choice;
  choice.version = supported.empty() ? kAppProtocolVersion
                                     : *std::max_element(supported.begin(), supported.end());
  const std::string_view list = env_or(env, "PLUGIN_PROTOCOL_VERSIONS", "");
  if (list.empty()) return choice;
  int best = -1;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string_view item = list.substr(start, comma - start);
    long v = 0;
    if (!parse_int(item, v)) {
      choice.warnings.push_back("host sent invalid plugin version \"" + std::string(item) + "\"");
    } else if (std::find(supported.begin(), supported.end(), v) != supported.end()) {
      best = std::max(best, static_cast<int>(v));
    }
    start = comma + 1;
  }
  if (best >= 0) {
    choice.version = best;
  } else {
    choice.warnings.push_back("no protocol version in common with the host (it offers \"" +
                              std::string(list) + "\")");
  }
  return choice;
}

long group_id(std::string_view name_or_number, const std::string& group_file) {
  long number = 0;
  if (parse_int(name_or_number, number)) return number >= 0 ? number : -1;
  std::ifstream in(group_file);
  std::string line;
  while (std::getline(in, line)) {
    // name:password:gid:members
    const size_t a = line.find(':');
    if (a == std::string::npos || std::string_view(line).substr(0, a) != name_or_number) continue;
    const size_t b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const size_t c = line.find(':', b + 1);
    long gid = 0;
    if (parse_int(std::string_view(line).substr(b + 1, c == std::string::npos ? c : c - b - 1),
                  gid)) {
      return gid;
    }
  }
  return -1;
}

std::unique_ptr<PluginListener> PluginListener::open(Transport transport, const Environment& env,
                                                     std::string& error) {
  if (transport == Transport::kTcp) {
    long min_port = 0;
    long max_port = 0;
    const std::string_view min_text = env_or(env, "PLUGIN_MIN_PORT", "0");
    const std::string_view max_text = env_or(env, "PLUGIN_MAX_PORT", "0");
    if (!parse_int(min_text, min_port) || min_port < 0 || min_port > 65535) {
      error = "PLUGIN_MIN_PORT: not a port number: \"" + std::string(min_text) + "\"";
      return nullptr;
    }
    if (!parse_int(max_text, max_port) || max_port < 0 || max_port > 65535) {
      error = "PLUGIN_MAX_PORT: not a port number: \"" + std::string(max_text) + "\"";
      return nullptr;
    }
    if (min_port > max_port) {
      error = "PLUGIN_MIN_PORT " + std::to_string(min_port) + " is greater than PLUGIN_MAX_PORT " +
              std::to_string(max_port);
      return nullptr;
    }
    for (long port = min_port; port <= max_port; ++port) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        error = "socket: " + errno_text(errno);
        return nullptr;
      }
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::listen(fd, 16) == 0) {
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
        return std::unique_ptr<PluginListener>(new PluginListener(fd, "tcp", address, ""));
      }
      ::close(fd);
    }
    error = "couldn't bind a plugin TCP listener on 127.0.0.1 ports " + std::to_string(min_port) +
            ".." + std::to_string(max_port);
    return nullptr;
  }

  std::string dir(env_or(env, "PLUGIN_UNIX_SOCKET_DIR", env_or(env, "TMPDIR", "/tmp")));
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string path = dir + "/pluginXXXXXX";
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    error = "socket directory \"" + dir + "\" makes the socket path longer than " +
            std::to_string(sizeof addr.sun_path - 1) + " bytes";
    return nullptr;
  }
  // A unique name as Go's os.CreateTemp gives it: create the file, then remove it for the socket.
  const int tmp = ::mkstemp(path.data());
  if (tmp < 0) {
    error = "cannot create a socket path in \"" + dir + "\": " + errno_text(errno);
    return nullptr;
  }
  ::close(tmp);
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + errno_text(errno);
    return nullptr;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    error = "cannot listen on \"" + path + "\": " + errno_text(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return nullptr;
  }
  auto listener = std::unique_ptr<PluginListener>(new PluginListener(fd, "unix", path, path));
  const std::string_view group = env_or(env, "PLUGIN_UNIX_SOCKET_GROUP", "");
  if (!group.empty()) {
    const long gid = group_id(group);
    if (gid < 0) {
      error = "PLUGIN_UNIX_SOCKET_GROUP: unknown group \"" + std::string(group) + "\"";
      return nullptr;
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(gid)) != 0 ||
        ::chmod(path.c_str(), 0660) != 0) {
      error = "cannot give group " + std::string(group) + " access to \"" + path +
              "\": " + errno_text(errno);
      return nullptr;
    }
  }
  return listener;
}

PluginListener::~PluginListener() { close(); }

void PluginListener::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!socket_path_.empty()) {
    ::unlink(socket_path_.c_str());
    socket_path_.clear();
  }
}

std::string PluginListener::handshake_line(int app_version) const {
  return std::to_string(kCoreProtocolVersion) + "|" + std::to_string(app_version) + "|" +
         network_ + "|" + address_ + "|netrpc|\n";
}

int PluginListener::accept(int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (stop_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) return -1;
    if (fds[0].revents & POLLIN) {
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) return conn;
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      return -1;
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return -1;
  }
}

}  // namespace lockstep::plugin
