#include "rollout/plugin/net_rpc.h"

#include <utility>

namespace lockstep::plugin {

const gob::TypeSpec& rpc_request_spec() {
  static const gob::TypeSpec t = gob::TypeSpec::structure(
      "Request", {{"ServiceMethod", &gob::string_spec()}, {"Seq", &gob::uint_spec()}});
  return t;
}

const gob::TypeSpec& rpc_response_spec() {
  static const gob::TypeSpec t = gob::TypeSpec::structure(
      "Response", {{"ServiceMethod", &gob::string_spec()},
                   {"Seq", &gob::uint_spec()},
                   {"Error", &gob::string_spec()}});
  return t;
}

const gob::TypeSpec& empty_struct_spec() {
  static const gob::TypeSpec t = gob::TypeSpec::structure("", {});
  return t;
}

bool StreamMessageSource::next(std::string& out, size_t max_bytes) {
  char prefix[9];
  if (!stream_.read_exact(prefix, 1)) return false;  // a clean end between messages
  size_t have = 1;
  const auto first = static_cast<uint8_t>(prefix[0]);
  if (first > 0x7f) {
    const int n = -static_cast<int8_t>(first);
    if (n > 8) throw gob::Error("gob: invalid message length prefix");
    if (!stream_.read_exact(prefix + 1, static_cast<size_t>(n))) {
      throw gob::Error("gob: stream ended inside a message length");
    }
    have += static_cast<size_t>(n);
  }
  uint64_t length = 0;
  gob::parse_uint_prefix(std::string_view(prefix, have), length);
  if (length > max_bytes) {
    throw gob::Error("gob: message of " + std::to_string(length) + " bytes exceeds the limit of " +
                     std::to_string(max_bytes));
  }
  // Grow with what actually arrives, so a bogus length cannot make us allocate up front.
  out.clear();
  char chunk[16 * 1024];
  size_t left = static_cast<size_t>(length);
  while (left > 0) {
    const size_t n = stream_.read(chunk, std::min(left, sizeof chunk));
    if (n == 0) throw gob::Error("gob: stream ended inside a message");
    out.append(chunk, n);
    left -= n;
  }
  return true;
}

RpcReply RpcReply::failure(std::string message) {
  RpcReply r;
  r.error = std::move(message);
  return r;
}

RpcReply RpcReply::of(const gob::TypeSpec& type, gob::Value body) {
  RpcReply r;
  r.type = &type;
  r.body = std::move(body);
  return r;
}

void RpcServiceTable::add(std::string service_method, RpcMethod method) {
  methods_[std::move(service_method)] = std::move(method);
}

const RpcMethod* RpcServiceTable::find(std::string_view service_method) const {
  const auto it = methods_.find(service_method);
  return it == methods_.end() ? nullptr : &it->second;
}

bool RpcServiceTable::has_service(std::string_view service) const {
  for (const auto& [name, method] : methods_) {
    if (name.size() > service.size() && name.compare(0, service.size(), service) == 0 &&
        name[service.size()] == '.') {
      return true;
    }
  }
  return false;
}

RpcConnection::RpcConnection(yamux::Stream& stream, const RpcServiceTable& services,
                             CallPool& pool, gob::Limits limits, Logger log)
    : stream_(stream),
      services_(services),
      pool_(pool),
      limits_(limits),
      log_(std::move(log)),
      decoder_(limits) {}

void RpcConnection::serve() {
  StreamMessageSource source(stream_);
  static const gob::Selector kSkipAll;  // selects no field: arguments of unknown methods
  for (;;) {
    gob::Value header;
    try {
      if (!decoder_.decode(source, header)) break;
    } catch (const gob::Error& e) {
      // As Go's server: an undecodable header ends the connection.
      log_.warn("rpc: server cannot decode request", {{"stream", std::to_string(stream_.id())},
                                                       {"error", e.what()}});
      break;
    }
    const gob::Value& method_value = header["ServiceMethod"];
    const gob::Value& seq_value = header["Seq"];
    if (header.type() != gob::Value::Type::kStruct ||
        !(method_value.is_null() || method_value.type() == gob::Value::Type::kString) ||
        !(seq_value.is_null() || seq_value.type() == gob::Value::Type::kUint)) {
      log_.warn("rpc: request header is not a Request{ServiceMethod string, Seq uint64}",
                {{"stream", std::to_string(stream_.id())}});
      break;
    }
    const std::string service_method(method_value.as_string());
    const uint64_t seq = seq_value.as_uint();

    const RpcMethod* method = services_.find(service_method);
    std::string lookup_error;
    const size_t dot = service_method.rfind('.');
    if (dot == std::string::npos) {
      lookup_error = "rpc: service/method request ill-formed: " + service_method;
    } else if (method == nullptr) {
      lookup_error = services_.has_service(std::string_view(service_method).substr(0, dot))
                         ? "rpc: can't find method " + service_method
                         : "rpc: can't find service " + service_method;
    }

    gob::Value args;
    std::string body_error;
    try {
      if (!decoder_.decode(source, args, method ? method->select : &kSkipAll)) {
        break;  // the stream ended between header and body
      }
    } catch (const gob::Error& e) {
      body_error = e.what();
    }
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (!lookup_error.empty() || !body_error.empty()) {
      // Go answers these and keeps reading: messages are length-delimited, so the next request
      // still starts on a message boundary.
      const std::string error = lookup_error.empty() ? body_error : lookup_error;
      log_.warn("rpc: rejected request", {{"method", service_method}, {"error", error}});
      send_reply(service_method, seq, RpcReply::failure(error));
      continue;
    }
    if (method->run_inline) {
      send_reply(service_method, seq, method->handler(args));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      ++inflight_;
    }
    pool_.submit([this, method, service_method, seq, args = std::move(args)]() mutable {
      send_reply(service_method, seq, method->handler(args));
      // Notify under the lock: once serve() sees zero it destroys this connection, so the
      // worker must be done with the condition variable before the mutex is free.
      std::lock_guard<std::mutex> lock(inflight_mu_);
      --inflight_;
      inflight_done_.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(inflight_mu_);
  inflight_done_.wait(lock, [&] { return inflight_ == 0; });
  lock.unlock();
  stream_.close();
}

void RpcConnection::send_reply(const std::string& service_method, uint64_t seq, RpcReply reply) {
  gob::Value response = gob::Value::of_struct();
  response.set("ServiceMethod", gob::Value::of_string(service_method));
  response.set("Seq", gob::Value::of_uint(seq));
  response.set("Error", gob::Value::of_string(reply.error));
  std::string bytes;
  bool written = false;
  {
    std::lock_guard<std::mutex> lock(send_mu_);
    // Definitions count as sent only once written: keep the encoder's state to roll back to.
    const gob::Encoder before = encoder_;
    try {
      encoder_.encode(bytes, rpc_response_spec(), response);
      if (reply.error.empty() && reply.type != nullptr) {
        encoder_.encode(bytes, *reply.type, reply.body);
      } else {
        encoder_.encode(bytes, empty_struct_spec(), gob::Value::of_struct());
      }
    } catch (const gob::Error& e) {
      // Our own reply did not fit its type: a bug, reported to the caller rather than crashing.
      log_.error("rpc: cannot encode reply", {{"method", service_method}, {"error", e.what()}});
      bytes.clear();
      encoder_ = before;
      response.set("Error", gob::Value::of_string(std::string("plugin: cannot encode reply: ") +
                                                  e.what()));
      encoder_.encode(bytes, rpc_response_spec(), response);
      encoder_.encode(bytes, empty_struct_spec(), gob::Value::of_struct());
    }
    written = stream_.write(bytes);
  }
  if (!written) {
    log_.debug("rpc: reply not delivered, stream closed", {{"method", service_method}});
  }
  if (reply.after_send) reply.after_send();
}

}  // namespace lockstep::plugin
