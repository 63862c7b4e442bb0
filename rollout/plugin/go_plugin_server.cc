#include "rollout/plugin/go_plugin_server.h"

#include <utility>

namespace lockstep::plugin {
namespace {

std::string gob_type_error(std::string_view want, const gob::Value& got) {
  return "gob: decoding into local type " + std::string(want) + ", received remote type " +
         std::string(gob::value_type_name(got.type()));
}

}  // namespace

GoPluginServer::GoPluginServer(const RpcServiceTable& plugin_methods, GoPluginOptions options,
                               Logger log)
    : plugin_methods_(plugin_methods),
      options_(std::move(options)),
      log_(std::move(log)),
      pool_(options_.call_workers) {
  control_methods_.add("Control.Ping", {[](const gob::Value& args) {
                                          if (args.type() != gob::Value::Type::kBool) {
                                            return RpcReply::failure(gob_type_error("bool", args));
                                          }
                                          return RpcReply::of(empty_struct_spec(),
                                                              gob::Value::of_struct());
                                        },
                                        nullptr, true});
  control_methods_.add("Control.Quit", {[this](const gob::Value&) {
                                          log_.info("Control.Quit received, shutting down");
                                          RpcReply reply = RpcReply::of(empty_struct_spec(),
                                                                        gob::Value::of_struct());
                                          // Reply first; the host then closes its streams and
                                          // the session, which ends serve().
                                          reply.after_send = [this] {
                                            std::lock_guard<std::mutex> lock(mu_);
                                            quit_ = true;
                                            arm_shutdown_locked();
                                          };
                                          return reply;
                                        },
                                        nullptr, true});
  control_methods_.add("Dispenser.Dispense",
                       {[this](const gob::Value& args) { return dispense(args); }, nullptr, true});
}

GoPluginServer::~GoPluginServer() {
  if (shutdown_timer_.joinable()) shutdown_timer_.join();  // serve() normally joined it
}

void GoPluginServer::arm_shutdown_locked() {
  if (session_ == nullptr || shutdown_timer_.joinable()) return;
  // Closing the session at once would race the host's own Close() of its streams: go-plugin
  // treats a failed Close as an unclean exit and kills the process. A Go plugin server never
  // closes the session itself either.
  shutdown_timer_ = std::thread([session = session_, grace = options_.shutdown_grace] {
    if (!session->wait_ended_for(grace)) session->close();
  });
}

void GoPluginServer::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  if (session_) session_->close();
}

RpcReply GoPluginServer::dispense(const gob::Value& args) {
  if (args.type() != gob::Value::Type::kString) return RpcReply::failure(gob_type_error("string", args));
  if (args.as_string() != options_.plugin_name) {
    return RpcReply::failure("unknown plugin type: " + std::string(args.as_string()));
  }
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_brokers_.size() >= options_.max_pending_brokers) {
      return RpcReply::failure("plugin: too many dispensed plugins waiting for their stream");
    }
    id = ++next_broker_id_;
    pending_brokers_.insert(id);
  }
  log_.debug("dispensed plugin", {{"name", options_.plugin_name}, {"broker_id", std::to_string(id)}});
  return RpcReply::of(gob::uint_spec(), gob::Value::of_uint(id));
}

GoPluginServer::Exit GoPluginServer::serve(std::unique_ptr<yamux::Connection> connection) {
  yamux::Session session(std::move(connection), {}, log_.child("yamux"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return Exit::kStopped;
    session_ = &session;
  }
  session.start();
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<yamux::Stream>> std_streams;
  size_t accepted = 0;
  while (auto stream = session.accept()) {
    // Streams are told apart by order of arrival, as go-plugin's client opens them.
    const size_t index = accepted++;
    if (index == 0) {
      threads.emplace_back([this, stream] { serve_control(stream); });
    } else if (index <= 2) {
      // stdout and stderr: the host copies whatever arrives; our logs go to the real stderr.
      std_streams.push_back(std::move(stream));
    } else {
      threads.emplace_back([this, stream] { serve_broker(stream); });
    }
  }
  for (auto& stream : std_streams) stream->close();
  for (std::thread& t : threads) t.join();
  std::thread timer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    timer = std::move(shutdown_timer_);
  }
  if (timer.joinable()) timer.join();
  const std::string reason = session.end_reason();
  Exit exit = Exit::kSessionEnded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    session_ = nullptr;
    if (quit_) {
      exit = Exit::kQuit;
    } else if (stopped_) {
      exit = Exit::kStopped;
    }
  }
  log_.info("plugin session ended", {{"reason", reason}});
  return exit;
}

void GoPluginServer::serve_control(std::shared_ptr<yamux::Stream> stream) {
  RpcConnection rpc(*stream, control_methods_, pool_, options_.limits, log_.child("control"));
  rpc.serve();
  // Without its control stream the host can neither ping nor dispense: it is leaving.
  std::lock_guard<std::mutex> lock(mu_);
  arm_shutdown_locked();
}

void GoPluginServer::serve_broker(std::shared_ptr<yamux::Stream> stream) {
  char id_bytes[4];
  if (!stream->read_exact(id_bytes, sizeof id_bytes)) return;
  const uint32_t id = static_cast<uint32_t>(static_cast<uint8_t>(id_bytes[0])) |
                      static_cast<uint32_t>(static_cast<uint8_t>(id_bytes[1])) << 8 |
                      static_cast<uint32_t>(static_cast<uint8_t>(id_bytes[2])) << 16 |
                      static_cast<uint32_t>(static_cast<uint8_t>(id_bytes[3])) << 24;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_brokers_.erase(id) == 0) {
      log_.warn("broker stream with an id that was never dispensed, resetting it",
                {{"broker_id", std::to_string(id)}});
      stream->reset();
      return;
    }
  }
  // The ack is the id itself (MuxBroker.Accept); the host's Dial checks it.
  if (!stream->write(std::string_view(id_bytes, sizeof id_bytes))) return;
  RpcConnection rpc(*stream, plugin_methods_, pool_, options_.limits, log_.child("plugin"));
  rpc.serve();
}

}  // namespace lockstep::plugin
