#pragma once

// Go's net/rpc server protocol over one yamux stream (golang/go src/net/rpc/server.go): each
// request is a gob `Request{ServiceMethod, Seq}` followed by the argument, each reply a gob
// `Response{ServiceMethod, Seq, Error}` followed by the result. One gob decoder and one encoder
// live as long as the stream, so type definitions are exchanged once per stream and direction.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/log.h"
#include "rollout/plugin/call_pool.h"
#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/gob_encoder.h"
#include "rollout/plugin/yamux_session.h"

namespace lockstep::plugin {

// The reply types the plugin sends, with the names Go gives them.
const gob::TypeSpec& rpc_request_spec();   // Request{ServiceMethod string; Seq uint64}
const gob::TypeSpec& rpc_response_spec();  // Response{ServiceMethod string; Seq uint64; Error string}
const gob::TypeSpec& empty_struct_spec();  // struct{} (Ping/Quit replies, error bodies)

// Reads gob messages from a yamux stream without ever buffering more than has arrived.
class StreamMessageSource final : public gob::MessageSource {
 public:
  explicit StreamMessageSource(yamux::Stream& stream) : stream_(stream) {}
  bool next(std::string& out, size_t max_bytes) override;

 private:
  yamux::Stream& stream_;
};

// What a method returns. A non-empty `error` becomes Response.Error with an empty-struct body
// (as Go does when a method returns an error); otherwise `body` of type `type` is sent.
struct RpcReply {
  std::string error;
  const gob::TypeSpec* type = nullptr;
  gob::Value body;
  std::function<void()> after_send;  // runs once the reply is written (Control.Quit)

  static RpcReply failure(std::string message);
  static RpcReply of(const gob::TypeSpec& type, gob::Value body);
};

struct RpcMethod {
  std::function<RpcReply(const gob::Value& args)> handler;
  const gob::Selector* select = nullptr;  // the argument fields to keep; nullptr keeps all
  bool run_inline = false;                // cheap calls answered on the stream's own thread
};

// The methods served on a stream, by "Service.Method".
class RpcServiceTable {
 public:
  void add(std::string service_method, RpcMethod method);
  const RpcMethod* find(std::string_view service_method) const;
  bool has_service(std::string_view service) const;

 private:
  std::map<std::string, RpcMethod, std::less<>> methods_;
};

// Serves net/rpc on one stream until it ends. Requests are decoded in order; calls run on the
// pool (or inline), so replies may leave out of order, matched by Seq as net/rpc expects.
class RpcConnection {
 public:
  RpcConnection(yamux::Stream& stream, const RpcServiceTable& services, CallPool& pool,
                gob::Limits limits, Logger log);
  // Returns when the stream ends or a request header cannot be decoded, after every call that
  // was started has replied; then half-closes the stream.
  void serve();

  uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  void send_reply(const std::string& service_method, uint64_t seq, RpcReply reply);

  yamux::Stream& stream_;
  const RpcServiceTable& services_;
  CallPool& pool_;
  gob::Limits limits_;
  Logger log_;
  gob::Decoder decoder_;  // used only by serve()'s thread

  std::mutex send_mu_;  // guards encoder_ and orders whole replies on the stream
  gob::Encoder encoder_;

  std::mutex inflight_mu_;  // guards inflight_
  std::condition_variable inflight_done_;
  size_t inflight_ = 0;
  std::atomic<uint64_t> calls_{0};  // statistics only: relaxed is enough
};

}  // namespace lockstep::plugin
