#pragma once

// Test-only client side of go-plugin's netrpc transport: a yamux client over a socket and a
// net/rpc client on its streams, built from the plugin's own gob encoder/decoder. The real
// peer (hashicorp's go-plugin host) is exercised in test/peers/plugin; this one lets unit tests
// send what a Go host never would.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/gob_encoder.h"
#include "rollout/plugin/net_rpc.h"
#include "rollout/plugin/yamux_frame.h"

namespace lockstep::plugin::testing {

class TestYamuxClient {
 public:
  explicit TestYamuxClient(int fd) : fd_(fd) { reader_ = std::thread([this] { read_loop(); }); }
  ~TestYamuxClient() {
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    ::close(fd_);
  }

  uint32_t open() {
    uint32_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = next_id_;
      next_id_ += 2;
      streams_[id];
    }
    send_frame({yamux::FrameType::kWindowUpdate, yamux::kFlagSyn, id, 0});
    return id;
  }

  bool wait_ack(uint32_t id) {
    return wait([&] { return streams_[id].acked; });
  }

  void send_frame(const yamux::FrameHeader& h, std::string_view payload = {}) {
    const auto head = yamux::encode_header(h);
    std::string bytes(head.data(), head.size());
    bytes.append(payload);
    send_raw(bytes);
  }

  void send_raw(std::string_view bytes) {
    std::lock_guard<std::mutex> lock(write_mu_);
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Sends within the server's window, waiting for its WindowUpdates; false on timeout.
  bool write(uint32_t id, std::string_view bytes) {
    while (!bytes.empty()) {
      size_t n = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!cv_.wait_for(lock, std::chrono::seconds(10),
                          [&] { return streams_[id].send_window > 0 || closed_; }) ||
            closed_) {
          return false;
        }
        n = std::min<size_t>(bytes.size(), streams_[id].send_window);
        streams_[id].send_window -= static_cast<uint32_t>(n);
      }
      send_frame({yamux::FrameType::kData, 0, id, static_cast<uint32_t>(n)}, bytes.substr(0, n));
      bytes.remove_prefix(n);
    }
    return true;
  }

  // Takes exactly n bytes of the stream; false on timeout or when the stream ends first.
  bool read(uint32_t id, size_t n, std::string& out) {
    std::unique_lock<std::mutex> lock(mu_);
    Stream& s = streams_[id];
    if (!cv_.wait_for(lock, std::chrono::seconds(10),
                      [&] { return s.received.size() >= n || s.fin || s.rst || closed_; }) ||
        s.received.size() < n) {
      return false;
    }
    out = s.received.substr(0, n);
    s.received.erase(0, n);
    return true;
  }

  bool wait_rst(uint32_t id) {
    return wait([&] { return streams_[id].rst; });
  }
  // Half-closes our direction of a stream, as yamux's Stream.Close does.
  void close_stream(uint32_t id) { send_frame({yamux::FrameType::kWindowUpdate, yamux::kFlagFin, id, 0}); }
  // True once the server has half-closed the stream; false when the connection ends first.
  bool wait_fin(uint32_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return streams_[id].fin || closed_; }) &&
           streams_[id].fin;
  }
  // Observations without waiting.
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  bool go_away_received() {
    std::lock_guard<std::mutex> lock(mu_);
    return go_away_.has_value();
  }
  // Shuts the socket down in both directions, as a host's Session.Close does.
  void disconnect() { ::shutdown(fd_, SHUT_RDWR); }
  bool wait_closed() {
    return wait([&] { return closed_; });
  }
  bool wait_go_away(uint32_t& code) {
    const bool ok = wait([&] { return go_away_.has_value(); });
    if (ok) code = *go_away_;
    return ok;
  }
  bool ping(uint32_t opaque) {
    send_frame({yamux::FrameType::kPing, yamux::kFlagSyn, 0, opaque});
    return wait([&] { return pongs_.count(opaque) != 0; });
  }

 private:
  struct Stream {
    bool acked = false;
    bool fin = false;
    bool rst = false;
    uint32_t send_window = yamux::kInitialWindow;
    std::string received;
  };

  template <typename Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), pred);
  }

  void read_loop() {
    yamux::FrameReader reader(1u << 30);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      yamux::FrameHeader h;
      std::string payload;
      while (reader.next(h, payload)) {
        uint32_t credit = 0;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (h.type == yamux::FrameType::kPing) {
            pongs_.insert({h.length, true});
          } else if (h.type == yamux::FrameType::kGoAway) {
            go_away_ = h.length;
          } else {
            Stream& s = streams_[h.stream_id];
            if (h.flags & yamux::kFlagAck) s.acked = true;
            if (h.flags & yamux::kFlagFin) s.fin = true;
            if (h.flags & yamux::kFlagRst) s.rst = true;
            if (h.type == yamux::FrameType::kWindowUpdate) s.send_window += h.length;
            if (h.type == yamux::FrameType::kData) {
              s.received += payload;
              credit = static_cast<uint32_t>(payload.size());  // consumed at once
            }
          }
        }
        cv_.notify_all();
        if (credit) send_frame({yamux::FrameType::kWindowUpdate, 0, h.stream_id, credit});
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  int fd_;
  std::thread reader_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Stream> streams_;
  std::map<uint32_t, bool> pongs_;
  std::optional<uint32_t> go_away_;
  uint32_t next_id_ = 1;
  bool closed_ = false;
};

// A net/rpc client on one stream of a TestYamuxClient.
class TestRpcClient {
 public:
  TestRpcClient(TestYamuxClient& mux, uint32_t stream) : mux_(mux), stream_(stream), source_(*this) {}

  void register_name(std::string name, const gob::TypeSpec& type) {
    encoder_.register_name(std::move(name), type);
  }

  uint64_t send(const std::string& method, const gob::TypeSpec& type, const gob::Value& arg) {
    gob::Value header = gob::Value::of_struct();
    header.set("ServiceMethod", gob::Value::of_string(method));
    header.set("Seq", gob::Value::of_uint(seq_));
    std::string bytes;
    encoder_.encode(bytes, rpc_request_spec(), header);
    encoder_.encode(bytes, type, arg);
    mux_.write(stream_, bytes);
    return seq_++;
  }

  // Reads one reply; false when the stream ends or stalls for 10 s.
  bool receive(gob::Value& header, gob::Value& body) {
    try {
      return decoder_.decode(source_, header) && decoder_.decode(source_, body);
    } catch (const gob::Error&) {
      return false;
    }
  }

  // One call; returns Response.Error ("" on success) and fills `body`.
  std::string call(const std::string& method, const gob::TypeSpec& type, const gob::Value& arg,
                   gob::Value& body) {
    send(method, type, arg);
    gob::Value header;
    if (!receive(header, body)) return "<no reply>";
    return std::string(header["Error"].as_string());
  }

 private:
  class Source final : public gob::MessageSource {
   public:
    explicit Source(TestRpcClient& c) : c_(c) {}
    bool next(std::string& out, size_t) override {
      std::string byte;
      if (!c_.mux_.read(c_.stream_, 1, byte)) return false;
      std::string prefix = byte;
      const auto first = static_cast<uint8_t>(byte[0]);
      if (first > 0x7f) {
        std::string rest;
        if (!c_.mux_.read(c_.stream_, static_cast<size_t>(-static_cast<int8_t>(first)), rest)) {
          return false;
        }
        prefix += rest;
      }
      uint64_t length = 0;
      gob::parse_uint_prefix(prefix, length);
      return c_.mux_.read(c_.stream_, static_cast<size_t>(length), out);
    }

   private:
    TestRpcClient& c_;
  };

  TestYamuxClient& mux_;
  uint32_t stream_;
  uint64_t seq_ = 0;
  gob::Encoder encoder_;
  gob::Decoder decoder_;
  Source source_;
};

}  // namespace lockstep::plugin::testing
