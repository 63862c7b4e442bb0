#include "rollout/kube/kube_client.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace lockstep::kube {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string trim_token(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' ||
                        s.back() == '\t')) {
    s.pop_back();
  }
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
  return s.substr(b);
}

// The bearer token, re-read from its file when the file changes (the kubelet rotates projected
// service-account tokens by swapping a symlink) or when the server answered 401.
class TokenSource {
 public:
  TokenSource(std::string token, std::string file)
      : file_(std::move(file)), token_(trim_token(std::move(token))) {}

  std::string get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_.empty()) return token_;
    struct stat st {};
    if (::stat(file_.c_str(), &st) == 0) {
      const bool changed = force_ || st.st_ino != ino_ || st.st_size != size_ ||
                           st.st_mtim.tv_sec != mtime_.tv_sec ||
                           st.st_mtim.tv_nsec != mtime_.tv_nsec;
      if (changed) {
        std::string data, error;
        if (read_small_file(file_, data, error, 64 << 10)) {
          token_ = trim_token(std::move(data));
          ino_ = st.st_ino;
          size_ = st.st_size;
          mtime_ = st.st_mtim;
          force_ = false;
        }
      }
    }
    return token_;
  }
  // The server rejected the token: read the file again before the next request.
  void invalidate() {
    std::lock_guard<std::mutex> lock(mu_);
    force_ = true;
  }
  bool from_file() const { return !file_.empty(); }

 private:
  const std::string file_;
  std::mutex mu_;
  std::string token_;      // guarded by mu_
  bool force_ = false;     // guarded by mu_
  ino_t ino_ = 0;          // guarded by mu_
  off_t size_ = -1;        // guarded by mu_
  timespec mtime_{};       // guarded by mu_
};

http::verb to_beast(KubeClient::Verb verb) {
  switch (verb) {
    case KubeClient::Verb::kGet:
      return http::verb::get;
    case KubeClient::Verb::kPost:
      return http::verb::post;
    case KubeClient::Verb::kPut:
      return http::verb::put;
    case KubeClient::Verb::kPatch:
      return http::verb::patch;
    case KubeClient::Verb::kDelete:
      return http::verb::delete_;
  }
  return http::verb::get;
}

// One TLS connection with its own io_context, so that a blocking call drives only its own I/O
// and a timeout or a cancellation touches nothing else. Single-use once closed.
class Connection {
 public:
  explicit Connection(ssl::context& ctx) : stream_(ioc_, ctx) {}

  // Starts an async operation with `start(handler)` and runs it to completion or `timeout`.
  template <class Start>
  beast::error_code run(Millis timeout, Start&& start) {
    if (aborted_) return net::error::operation_aborted;
    if (timeout <= Millis(0)) return beast::error::timeout;
    beast::get_lowest_layer(stream_).expires_after(timeout);
    beast::error_code result;
    bool done = false;
    start([&result, &done](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run();
    if (!done) return net::error::operation_aborted;
    return result;
  }

  // Aborts the operation in progress from any thread (runs on this connection's io_context).
  // The abort is sticky: it may run between two operations, and then fails the next one.
  void abort_from_other_thread() {
    net::post(ioc_, [this] {
      aborted_ = true;
      beast::get_lowest_layer(stream_).cancel();
    });
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  net::io_context& ioc() { return ioc_; }

 private:
  net::io_context ioc_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  bool aborted_ = false;  // set and read only inside run() on the calling thread
};

// Attaches a connection to a Cancellation for the lifetime of one call.
class CancelScope {
 public:
  CancelScope(Cancellation* cancel, Connection& conn);
  ~CancelScope();
  bool cancelled() const { return cancelled_; }

 private:
  Cancellation* cancel_;
  bool cancelled_ = false;
};

void fill_status_error(KubeResponse& r) {
  if (r.body.is_object() && r.body.contains("kind") && r.body["kind"] == "Status") {
    if (auto it = r.body.find("message"); it != r.body.end() && it->is_string()) {
      r.error = it->get<std::string>();
    }
    if (auto it = r.body.find("reason"); it != r.body.end() && it->is_string()) {
      r.reason = it->get<std::string>();
    }
  }
  if (!r.ok() && r.error.empty()) r.error = "HTTP " + std::to_string(r.status);
}

std::string query_join(std::string target, std::string_view key, std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += url_encode(value);
  return target;
}

}  // namespace

struct KubeClient::Impl {
  KubeConfig config;
  ClientOptions options;
  ssl::context ctx{ssl::context::tls_client};
  std::string server_name;  // checked against the certificate
  bool server_name_is_ip = false;
  bool host_is_ip = false;
  std::string host_header;
  TokenSource token;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by pool_mu

  Impl(KubeConfig c, ClientOptions o)
      : config(std::move(c)), options(std::move(o)), token(config.token, config.token_file) {}

  bool init(std::string& error) {
    if (config.host.empty()) {
      error = "API server host is empty";
      return false;
    }
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    if (!config.ca_pem.empty()) {
      ctx.add_certificate_authority(net::buffer(config.ca_pem), ec);
      if (ec) {
        error = "CA certificates: " + ec.message();
        return false;
      }
    } else if (!config.insecure_skip_tls_verify) {
      ctx.set_default_verify_paths(ec);
      if (ec) {
        error = "system CA certificates: " + ec.message();
        return false;
      }
    }
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      error = "client certificate and key must be given together";
      return false;
    }
    if (!config.client_cert_pem.empty()) {
      ctx.use_certificate_chain(net::buffer(config.client_cert_pem), ec);
      if (ec) {
        error = "client certificate: " + ec.message();
        return false;
      }
      ctx.use_private_key(net::buffer(config.client_key_pem), ssl::context::pem, ec);
      if (ec) {
        error = "client key: " + ec.message();
        return false;
      }
    }
    server_name = config.tls_server_name.empty() ? config.host : config.tls_server_name;
    server_name_is_ip = is_ip_literal(server_name);
    host_is_ip = is_ip_literal(config.host);
    const bool v6 = config.host.find(':') != std::string::npos;
    host_header = (v6 ? "[" + config.host + "]" : config.host);
    if (config.port != 443) host_header += ":" + std::to_string(config.port);
    return true;
  }

  // Opens a new TLS connection, or returns an error message.
  std::unique_ptr<Connection> connect(SteadyClock::time_point deadline, std::string& error,
                                      Cancellation* cancel) {
    auto conn = std::make_unique<Connection>(ctx);
    CancelScope scope(cancel, *conn);
    if (scope.cancelled()) {
      error = "cancelled";
      return nullptr;
    }
    auto remaining = [&] {
      return std::min(options.connect_timeout,
                      std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()));
    };
    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    if (host_is_ip) {
      endpoints.emplace_back(net::ip::make_address(config.host), config.port);
    } else {
      tcp::resolver resolver(conn->ioc());
      auto results = resolver.resolve(config.host, std::to_string(config.port), ec);
      if (ec) {
        error = "resolve " + config.host + ": " + ec.message();
        return nullptr;
      }
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    ec = conn->run(remaining(), [&](auto handler) {
      beast::get_lowest_layer(conn->stream()).async_connect(endpoints, handler);
    });
    if (ec) {
      error = "connect " + config.server_url() + ": " +
              (ec == beast::error::timeout ? std::string("timed out") : ec.message());
      return nullptr;
    }
    SSL* native = conn->stream().native_handle();
    if (config.insecure_skip_tls_verify) {
      conn->stream().set_verify_mode(ssl::verify_none);
    } else {
      conn->stream().set_verify_mode(ssl::verify_peer);
      X509_VERIFY_PARAM* param = SSL_get0_param(native);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int set = server_name_is_ip
                          ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
      if (set != 1) {
        error = "TLS: cannot verify against server name \"" + server_name + "\"";
        return nullptr;
      }
    }
    if (!server_name_is_ip) SSL_set_tlsext_host_name(native, server_name.c_str());
    ec = conn->run(remaining(), [&](auto handler) {
      conn->stream().async_handshake(ssl::stream_base::client, handler);
    });
    if (ec) {
      error = "TLS handshake with " + config.server_url() + ": " +
              (ec == beast::error::timeout ? std::string("timed out") : ec.message());
      return nullptr;
    }
    return conn;
  }

  std::unique_ptr<Connection> take_idle() {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (idle.empty()) return nullptr;
    auto conn = std::move(idle.back());
    idle.pop_back();
    return conn;
  }

  void give_back(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(conn));
  }

  http::request<http::string_body> make_request(http::verb verb, const std::string& target,
                                                const std::string& body,
                                                std::string_view content_type) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::accept, "application/json");
    const std::string bearer = token.get();
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    if (!body.empty() || !content_type.empty()) {
      const std::string_view ct = content_type.empty() ? "application/json" : content_type;
      req.set(http::field::content_type, beast::string_view(ct.data(), ct.size()));
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  // One attempt on one connection. `retry_fresh` is set when a reused connection turned out to
  // be closed before any byte of the answer arrived (safe to resend).
  KubeResponse attempt(Connection& conn, bool reused, http::verb verb, const std::string& target,
                       const std::string& body, std::string_view content_type,
                       SteadyClock::time_point deadline, bool& keep, bool& retry_fresh,
                       Cancellation* cancel) {
    KubeResponse r;
    keep = false;
    retry_fresh = false;
    CancelScope scope(cancel, conn);
    if (scope.cancelled()) {
      r.error = "cancelled";
      return r;
    }
    auto remaining = [&] {
      return std::chrono::duration_cast<Millis>(deadline - SteadyClock::now());
    };
    auto req = make_request(verb, target, body, content_type);
    beast::error_code ec = conn.run(remaining(), [&](auto handler) {
      http::async_write(conn.stream(), req, handler);
    });
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    if (!ec) {
      ec = conn.run(remaining(), [&](auto handler) {
        http::async_read(conn.stream(), conn.buffer(), parser, handler);
      });
    }
    if (ec) {
      if (reused && !parser.got_some() && ec != beast::error::timeout &&
          !(cancel && cancel->cancelled())) {
        retry_fresh = true;
      }
      if (cancel && cancel->cancelled()) {
        r.error = "cancelled";
      } else if (ec == beast::error::timeout) {
        r.error = "request timed out";
      } else if (ec == http::error::body_limit) {
        r.error = "response larger than " + std::to_string(options.max_response_bytes) + " bytes";
      } else {
        r.error = ec.message();
      }
      return r;
    }
    auto& res = parser.get();
    r.status = static_cast<int>(res.result_int());
    if (!res.body().empty()) {
      r.body = nlohmann::json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
      if (r.body.is_discarded()) r.body = nullptr;
    }
    fill_status_error(r);
    keep = res.keep_alive();
    return r;
  }
};

namespace {

CancelScope::CancelScope(Cancellation* cancel, Connection& conn) : cancel_(cancel) {
  if (cancel_ && !cancel_->attach([&conn] { conn.abort_from_other_thread(); })) {
    cancelled_ = true;
    cancel_ = nullptr;
  }
}

CancelScope::~CancelScope() {
  if (cancel_) cancel_->detach();
}

}  // namespace

// Cancellation -------------------------------------------------------------------------------

void Cancellation::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (abort_) abort_();
}

bool Cancellation::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool Cancellation::attach(std::function<void()> abort) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  abort_ = std::move(abort);
  return true;
}

void Cancellation::detach() {
  std::lock_guard<std::mutex> lock(mu_);
  abort_ = nullptr;
}

std::string_view to_string(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

// KubeClient ---------------------------------------------------------------------------------

std::unique_ptr<KubeClient> KubeClient::create(KubeConfig config, ClientOptions options,
                                               std::string& error) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(options));
  if (!impl->init(error)) return nullptr;
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(impl)));
}

KubeClient::KubeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubeClient::~KubeClient() = default;

const KubeConfig& KubeClient::config() const { return impl_->config; }

KubeResponse KubeClient::request(Verb verb, const std::string& target, const std::string& body,
                                 std::string_view content_type, Cancellation* cancel) {
  Impl& s = *impl_;
  const auto deadline = SteadyClock::now() + s.options.request_timeout;
  bool token_retried = false;
  for (int round = 0; round < 4; ++round) {
    bool reused = true;
    std::unique_ptr<Connection> conn = s.take_idle();
    if (!conn) {
      reused = false;
      std::string error;
      conn = s.connect(deadline, error, cancel);
      if (!conn) {
        KubeResponse r;
        r.error = std::move(error);
        return r;
      }
    }
    bool keep = false;
    bool retry_fresh = false;
    KubeResponse r = s.attempt(*conn, reused, to_beast(verb), target, body, content_type,
                               deadline, keep, retry_fresh, cancel);
    if (retry_fresh) continue;  // a kept-alive connection the server had closed; nothing sent
    // A connection whose call was cancelled may still have the abort queued: never reuse it.
    if (keep && r.status != 0 && !(cancel && cancel->cancelled())) s.give_back(std::move(conn));
    if (r.status == 401 && s.token.from_file() && !token_retried) {
      token_retried = true;  // the token may have rotated: read it again and retry once
      s.token.invalidate();
      continue;
    }
    if (r.status == 401) s.token.invalidate();
    return r;
  }
  KubeResponse r;
  r.error = "connection closed repeatedly by " + s.config.server_url();
  return r;
}

KubeResponse KubeClient::get(const ResourceType& type, std::string_view ns, std::string_view name,
                             Cancellation* cancel) {
  return request(Verb::kGet, type.path(ns, name), {}, {}, cancel);
}

ListResult KubeClient::list(const ResourceType& type, std::string_view ns,
                            const ListOptions& options, Cancellation* cancel) {
  ListResult out;
  for (int restart = 0; restart < 3; ++restart) {
    out.items.clear();
    std::string continue_token;
    bool expired = false;
    for (;;) {
      std::string target = type.path(ns);
      if (options.page_size > 0) {
        target = query_join(std::move(target), "limit", std::to_string(options.page_size));
      }
      if (!options.label_selector.empty()) {
        target = query_join(std::move(target), "labelSelector", options.label_selector);
      }
      if (!options.field_selector.empty()) {
        target = query_join(std::move(target), "fieldSelector", options.field_selector);
      }
      if (!continue_token.empty()) {
        target = query_join(std::move(target), "continue", continue_token);
      }
      out.response = request(Verb::kGet, target, {}, {}, cancel);
      if (out.response.status == 410 && !continue_token.empty()) {
        expired = true;  // the continue token outlived the server's compaction: start over
        break;
      }
      if (!out.response.ok()) return out;
      const nlohmann::json& body = out.response.body;
      if (!body.is_object() || !body.contains("items") || !body["items"].is_array()) {
        out.response.status = 0;
        out.response.error = "list " + type.path(ns) + ": answer is not a list";
        return out;
      }
      std::string item_kind = std::string(type.kind);
      std::string api_version = type.api_version();
      for (auto& item : out.response.body["items"]) {
        if (!item.is_object()) continue;
        if (!item.contains("kind")) item["kind"] = item_kind;
        if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
        out.items.push_back(std::move(item));
      }
      const nlohmann::json* meta = body.contains("metadata") ? &body["metadata"] : nullptr;
      continue_token.clear();
      if (meta && meta->is_object()) {
        if (auto it = meta->find("resourceVersion"); it != meta->end() && it->is_string()) {
          out.resource_version = it->get<std::string>();
        }
        if (auto it = meta->find("continue"); it != meta->end() && it->is_string()) {
          continue_token = it->get<std::string>();
        }
      }
      out.response.body = nullptr;  // the items were moved out; keep the result small
      if (continue_token.empty()) return out;
    }
    if (!expired) break;
  }
  return out;
}

KubeResponse KubeClient::merge_patch(const ResourceType& type, std::string_view ns,
                                     std::string_view name, const nlohmann::json& patch,
                                     Cancellation* cancel) {
  return request(Verb::kPatch, type.path(ns, name), patch.dump(), "application/merge-patch+json",
                 cancel);
}

KubeResponse KubeClient::create_object(const ResourceType& type, std::string_view ns,
                                       const nlohmann::json& object, Cancellation* cancel) {
  return request(Verb::kPost, type.path(ns), object.dump(), "application/json", cancel);
}

KubeResponse KubeClient::replace_object(const ResourceType& type, std::string_view ns,
                                        std::string_view name, const nlohmann::json& object,
                                        Cancellation* cancel) {
  return request(Verb::kPut, type.path(ns, name), object.dump(), "application/json", cancel);
}

KubeResponse KubeClient::delete_object(const ResourceType& type, std::string_view ns,
                                       std::string_view name, Cancellation* cancel) {
  return request(Verb::kDelete, type.path(ns, name), {}, {}, cancel);
}

WatchEnd KubeClient::watch(const ResourceType& type, std::string_view ns,
                           const WatchOptions& options,
                           const std::function<void(WatchEvent&&)>& on_event,
                           Cancellation* cancel) {
  Impl& s = *impl_;
  WatchEnd end;
  std::string target = type.path(ns) + "?watch=true";
  if (options.allow_bookmarks) target += "&allowWatchBookmarks=true";
  if (options.timeout.count() > 0) {
    target += "&timeoutSeconds=" + std::to_string(options.timeout.count());
  }
  if (!options.resource_version.empty()) {
    target = query_join(std::move(target), "resourceVersion", options.resource_version);
  }
  if (!options.label_selector.empty()) {
    target = query_join(std::move(target), "labelSelector", options.label_selector);
  }
  if (!options.field_selector.empty()) {
    target = query_join(std::move(target), "fieldSelector", options.field_selector);
  }
  auto was_cancelled = [&] { return cancel && cancel->cancelled(); };
  auto finish_error = [&](std::string error) {
    end.reason = was_cancelled() ? WatchEnd::Reason::kCancelled : WatchEnd::Reason::kFailed;
    end.error = was_cancelled() ? "cancelled" : std::move(error);
    return end;
  };

  std::string error;
  auto conn = s.connect(SteadyClock::now() + s.options.connect_timeout, error, cancel);
  if (!conn) return finish_error(error);
  CancelScope scope(cancel, *conn);
  if (scope.cancelled()) return finish_error("cancelled");

  const Millis idle = std::chrono::duration_cast<Millis>(options.timeout) + s.options.watch_idle_slack;
  auto req = s.make_request(http::verb::get, target, {}, {});
  beast::error_code ec = conn->run(s.options.request_timeout, [&](auto handler) {
    http::async_write(conn->stream(), req, handler);
  });
  if (ec) return finish_error("watch " + type.path(ns) + ": " + ec.message());

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  ec = conn->run(s.options.request_timeout, [&](auto handler) {
    http::async_read_header(conn->stream(), conn->buffer(), parser, handler);
  });
  if (ec) {
    return finish_error("watch " + type.path(ns) + ": " +
                        (ec == beast::error::timeout ? std::string("timed out") : ec.message()));
  }

  std::string pending;  // bytes of an event whose newline has not arrived yet
  std::vector<char> chunk(64 << 10);
  const int status = static_cast<int>(parser.get().result_int());
  if (status != 200) {
    // Read the (small) error body to report the server's Status message.
    while (!parser.is_done() && pending.size() < (1u << 20)) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      ec = conn->run(s.options.request_timeout, [&](auto handler) {
        http::async_read_some(conn->stream(), conn->buffer(), parser, handler);
      });
      if (ec == http::error::need_buffer) ec = {};
      pending.append(chunk.data(), chunk.size() - parser.get().body().size);
      if (ec) break;
    }
    KubeResponse r;
    r.status = status;
    r.body = nlohmann::json::parse(pending, nullptr, false);
    if (r.body.is_discarded()) r.body = nullptr;
    fill_status_error(r);
    if (status == 401) s.token.invalidate();
    end.status = status;
    end.reason = status == 410 ? WatchEnd::Reason::kGone : WatchEnd::Reason::kFailed;
    end.error = "watch " + type.path(ns) + ": " + r.error;
    return end;
  }

  // Handles one newline-delimited event; false ends the watch (`end` says why).
  auto handle_line = [&](std::string_view line) -> bool {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) return true;
    nlohmann::json ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object() || !ev.contains("type") || !ev["type"].is_string() ||
        !ev.contains("object") || !ev["object"].is_object()) {
      end.reason = WatchEnd::Reason::kFailed;
      end.error = "watch " + type.path(ns) + ": malformed event";
      return false;
    }
    const std::string t = ev["type"].get<std::string>();
    nlohmann::json& obj = ev["object"];
    WatchEvent out;
    if (t == "ADDED") {
      out.type = WatchEvent::Type::kAdded;
    } else if (t == "MODIFIED") {
      out.type = WatchEvent::Type::kModified;
    } else if (t == "DELETED") {
      out.type = WatchEvent::Type::kDeleted;
    } else if (t == "BOOKMARK") {
      out.type = WatchEvent::Type::kBookmark;
    } else if (t == "ERROR") {
      const int code = obj.contains("code") && obj["code"].is_number_integer()
                           ? obj["code"].get<int>()
                           : 0;
      std::string message = obj.contains("message") && obj["message"].is_string()
                                ? obj["message"].get<std::string>()
                                : std::string("watch error");
      end.status = code;
      end.reason = code == 410 ? WatchEnd::Reason::kGone : WatchEnd::Reason::kFailed;
      end.error = "watch " + type.path(ns) + ": " + message;
      return false;
    } else {
      end.reason = WatchEnd::Reason::kFailed;
      end.error = "watch " + type.path(ns) + ": unknown event type \"" + t + "\"";
      return false;
    }
    if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
      if (auto rv = m->find("resourceVersion"); rv != m->end() && rv->is_string()) {
        end.last_resource_version = rv->get<std::string>();
      }
    }
    if (out.type != WatchEvent::Type::kBookmark) {
      if (!obj.contains("kind")) obj["kind"] = std::string(type.kind);
      if (!obj.contains("apiVersion")) obj["apiVersion"] = type.api_version();
    }
    out.object = std::move(obj);
    ++end.events;
    on_event(std::move(out));
    return true;
  };

  for (;;) {
    if (parser.is_done()) break;
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    ec = conn->run(idle, [&](auto handler) {
      http::async_read_some(conn->stream(), conn->buffer(), parser, handler);
    });
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = chunk.size() - parser.get().body().size;
    if (n > 0) {
      pending.append(chunk.data(), n);
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (!handle_line(std::string_view(pending).substr(start, nl - start))) return end;
      }
      pending.erase(0, start);
      if (pending.size() > s.options.max_watch_event_bytes) {
        end.reason = WatchEnd::Reason::kFailed;
        end.error = "watch " + type.path(ns) + ": event larger than " +
                    std::to_string(s.options.max_watch_event_bytes) + " bytes";
        return end;
      }
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == net::error::eof) break;
      return finish_error("watch " + type.path(ns) + ": " +
                          (ec == beast::error::timeout ? std::string("no data, timed out")
                                                       : ec.message()));
    }
  }
  if (!pending.empty() && !handle_line(pending)) return end;
  end.reason = WatchEnd::Reason::kClosed;
  return end;
}

}  // namespace lockstep::kube
