#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace grpc {
class ServerCredentials;
}

namespace lockstep {

// TLS material for a gRPC listener, as PEM file paths. All empty: plaintext (h2c). cert + key:
// TLS. cert + key + client_ca: mutual TLS (clients must present a certificate signed by it).
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Checks the combination and that every file exists, parses as PEM and that the key matches the
// certificate. On failure returns the reason, naming the config key (`key_prefix` + ".cert_file"
// and so on).
std::optional<std::string> check_tls_files(const TlsFiles& files, std::string_view key_prefix);

// Server credentials for these files. The files are watched and re-read (every
// `refresh_seconds`), so a rotated certificate is picked up without a restart.
std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const TlsFiles& files,
                                                                 unsigned refresh_seconds = 60);

}  // namespace lockstep
