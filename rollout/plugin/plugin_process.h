#pragma once

// The process side of go-plugin's server handshake (server.go Serve): the magic-cookie check,
// the app protocol version negotiation, the listening socket, and the handshake line that is
// printed only once the socket listens.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::plugin {

using Environment = std::map<std::string, std::string, std::less<>>;
Environment environment_from(char** envp);
std::string_view env_or(const Environment& env, std::string_view key, std::string_view fallback);

inline constexpr std::string_view kMagicCookieKey = "ARGO_ROLLOUTS_RPC_PLUGIN";
inline constexpr std::string_view kMagicCookieValue = "trafficrouter";
inline constexpr int kCoreProtocolVersion = 1;
inline constexpr int kAppProtocolVersion = 1;  // argo-rollouts' HandshakeConfig.ProtocolVersion

bool has_magic_cookie(const Environment& env);
// Printed on stderr (exit status 1) when the binary is started by hand rather than by the host.
std::string_view not_a_plugin_message();

struct VersionChoice {
  int version = kAppProtocolVersion;
  std::vector<std::string> warnings;  // unparsable entries, or no version in common
};
// Picks the highest version in PLUGIN_PROTOCOL_VERSIONS that we support. Without a common one it
// announces `supported`'s highest, so the host reports the mismatch (as go-plugin does).
VersionChoice negotiate_version(const Environment& env, const std::vector<int>& supported);

enum class Transport { kUnix, kTcp };

// The socket the host connects to. A unix socket file is removed when the listener closes.
class PluginListener {
 public:
  // unix: a fresh path "plugin*" in PLUGIN_UNIX_SOCKET_DIR, else $TMPDIR, else /tmp (mode 0660
  // and group PLUGIN_UNIX_SOCKET_GROUP when set). tcp: the first free port of 127.0.0.1 within
  // PLUGIN_MIN_PORT..PLUGIN_MAX_PORT. Returns nullptr with `error` set on failure.
  static std::unique_ptr<PluginListener> open(Transport transport, const Environment& env,
                                              std::string& error);
  ~PluginListener();
  PluginListener(const PluginListener&) = delete;
  PluginListener& operator=(const PluginListener&) = delete;

  std::string_view network() const { return network_; }
  std::string_view address() const { return address_; }
  // "1|<app>|unix|/tmp/plugin123|netrpc|\n": the six fields Go's server writes (no TLS cert).
  std::string handshake_line(int app_version) const;
  // Waits for the host to connect and returns the connected socket; -1 when `stop_fd` becomes
  // readable (shutdown requested) or on error.
  int accept(int stop_fd);
  // Stops listening and removes the socket file. Idempotent.
  void close();

 private:
  PluginListener(int fd, std::string network, std::string address, std::string socket_path)
      : fd_(fd),
        network_(std::move(network)),
        address_(std::move(address)),
        socket_path_(std::move(socket_path)) {}

  int fd_;
  std::string network_;
  std::string address_;
  std::string socket_path_;  // empty for tcp
};

// Resolves a group name or number from /etc/group without NSS (the binary is static): -1 when
// unknown.
long group_id(std::string_view name_or_number, const std::string& group_file = "/etc/group");

}  // namespace lockstep::plugin
