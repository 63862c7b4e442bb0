#include "common/http_admin_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <optional>
#include <set>
#include <sstream>

namespace lockstep {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string serialize_metrics(const std::vector<std::weak_ptr<prometheus::Collectable>>& from) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : from) {
    if (auto c = weak.lock()) {
      auto f = c->Collect();
      families.insert(families.end(), std::make_move_iterator(f.begin()),
                      std::make_move_iterator(f.end()));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

// Owns the io_context, the acceptor and the live sessions. Everything inside runs on the server
// thread; stop() posts the shutdown onto it.
class HttpAdminServer::Impl {
 public:
  Impl(HttpAdminServer& owner) : owner_(owner), acceptor_(io_) {}

  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(Impl& impl, tcp::socket socket) : impl_(impl), stream_(std::move(socket)) {}

    void start() { read(); }
    void close() {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_.close();
    }

   private:
    void read() {
      parser_.emplace();
      parser_->header_limit(static_cast<uint32_t>(impl_.owner_.options_.max_request_bytes));
      parser_->body_limit(impl_.owner_.options_.max_request_bytes);
      stream_.expires_after(impl_.owner_.options_.idle_timeout);
      http::async_read(stream_, buffer_, *parser_,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->on_read(ec);
                       });
    }

    void on_read(beast::error_code ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted) {
        return finish();
      }
      if (ec) {
        // Oversized or malformed: answer once and close.
        HttpResponse r;
        r.status = (ec == http::error::body_limit || ec == http::error::header_limit) ? 413 : 400;
        r.body = r.status == 413 ? "request too large\n" : "bad request: " + ec.message() + "\n";
        return write(r, false, 11);
      }
      const auto& req = parser_->get();
      HttpRequest request;
      request.method = std::string(req.method_string());
      const std::string target(req.target());
      const auto q = target.find('?');
      request.path = target.substr(0, q);
      if (q != std::string::npos) request.query = target.substr(q + 1);
      request.body = req.body();
      HttpResponse response = impl_.owner_.dispatch(request);
      if (req.method() == http::verb::head) response.body.clear();
      write(response, req.keep_alive(), req.version());
    }

    void write(const HttpResponse& r, bool keep_alive, unsigned version) {
      auto res = std::make_shared<http::response<http::string_body>>();
      res->version(version);
      res->result(static_cast<unsigned>(r.status));
      res->set(http::field::server, "lockstep");
      res->set(http::field::content_type, r.content_type);
      res->keep_alive(keep_alive);
      res->body() = r.body;
      res->prepare_payload();
      stream_.expires_after(impl_.owner_.options_.idle_timeout);
      http::async_write(stream_, *res,
                        [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                          if (ec || !keep_alive) return self->finish();
                          self->read();
                        });
    }

    void finish() {
      close();
      impl_.sessions_.erase(shared_from_this());
    }

    Impl& impl_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
  };

  bool listen(const std::string& address, uint16_t port, std::string* error) {
    beast::error_code ec;
    const auto addr = asio::ip::make_address(address, ec);
    if (ec) {
      *error = "admin address \"" + address + "\" is not an IP address";
      return false;
    }
    const tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message();
      return false;
    }
    owner_.port_.store(acceptor_.local_endpoint().port(), std::memory_order_release);
    accept();
    return true;
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) return;  // acceptor closed
      if (sessions_.size() >= owner_.options_.max_connections) {
        beast::error_code ignored;
        s.close(ignored);
      } else {
        auto session = std::make_shared<Session>(*this, std::move(s));
        sessions_.insert(session);
        session->start();
      }
      accept();
    });
  }

  void shutdown() {
    asio::post(io_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      for (const auto& s : std::set<std::shared_ptr<Session>>(sessions_)) s->close();
      sessions_.clear();
    });
  }

  HttpAdminServer& owner_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;  // touched on the server thread only
};

HttpAdminServer::HttpAdminServer(Options options, Logger log)
    : options_(std::move(options)), log_(std::move(log)) {
  handle("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  handle("/readyz", [this](const HttpRequest&) {
    return ready_.load(std::memory_order_relaxed)
               ? HttpResponse{200, "text/plain", "ready\n"}
               : HttpResponse{503, "text/plain", "not ready\n"};
  });
}

HttpAdminServer::~HttpAdminServer() { stop(); }

void HttpAdminServer::handle(const std::string& path, Handler handler) {
  std::lock_guard<std::mutex> lock(handlers_mu_);
  handlers_[path] = std::move(handler);
}

void HttpAdminServer::handle_prefix(const std::string& prefix, Handler handler) {
  std::lock_guard<std::mutex> lock(handlers_mu_);
  prefix_handlers_[prefix] = std::move(handler);
}

void HttpAdminServer::serve_metrics(
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  handle("/metrics", [collectables = std::move(collectables)](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        serialize_metrics(collectables)};
  });
}

HttpResponse HttpAdminServer::dispatch(const HttpRequest& request) {
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(handlers_mu_);
    auto it = handlers_.find(request.path);
    if (it != handlers_.end()) {
      handler = it->second;
    } else {
      for (auto p = prefix_handlers_.rbegin(); p != prefix_handlers_.rend(); ++p) {
        const std::string& prefix = p->first;
        if (request.path.compare(0, prefix.size(), prefix) == 0 &&
            (request.path.size() == prefix.size() || request.path[prefix.size()] == '/')) {
          handler = p->second;  // reverse order: a longer prefix sorts after its own prefix
          break;
        }
      }
    }
  }
  if (!handler) return HttpResponse{404, "text/plain", "not found: " + request.path + "\n"};
  try {
    return handler(request);
  } catch (const std::exception& e) {
    log_.error("admin handler failed", {{"path", request.path}, {"error", e.what()}});
    return HttpResponse{500, "text/plain", "internal error\n"};
  }
}

bool HttpAdminServer::start(std::string* error) {
  if (impl_) {
    *error = "admin server already started";
    return false;
  }
  impl_ = std::make_unique<Impl>(*this);
  if (!impl_->listen(options_.address, options_.port, error)) {
    impl_.reset();
    return false;
  }
  thread_ = std::thread([this] { impl_->io_.run(); });
  log_.info("admin server listening",
            {{"address", options_.address}, {"port", std::to_string(port())}});
  return true;
}

void HttpAdminServer::stop() {
  if (!impl_) return;
  impl_->shutdown();
  if (thread_.joinable()) thread_.join();
  impl_.reset();
}

}  // namespace lockstep
