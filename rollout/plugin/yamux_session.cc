#include "rollout/plugin/yamux_session.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

namespace lockstep::plugin::yamux {

FdConnection::FdConnection(int fd, std::chrono::milliseconds write_timeout) : fd_(fd) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(write_timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((write_timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

FdConnection::~FdConnection() { ::close(fd_); }

bool FdConnection::write_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // includes EAGAIN: the send timeout expired
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ptrdiff_t FdConnection::read_some(char* buffer, size_t size) {
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, size, 0);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

void FdConnection::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

// ---------------------------------------------------------------------------------------------

size_t Stream::read(char* buffer, size_t size) { return take(buffer, size, true); }

size_t Stream::try_read(char* buffer, size_t size) { return take(buffer, size, false); }

size_t Stream::take(char* buffer, size_t size, bool wait) {
  if (size == 0) return 0;
  uint32_t credit = 0;
  size_t n = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (wait) {
      readable_.wait(lock, [&] { return recv_pos_ < recv_.size() || remote_fin_ || ended_; });
    }
    if (recv_pos_ == recv_.size()) return 0;
    n = std::min(size, recv_.size() - recv_pos_);
    std::copy_n(recv_.data() + recv_pos_, n, buffer);
    recv_pos_ += n;
    if (recv_pos_ == recv_.size()) {
      recv_.clear();
      recv_pos_ = 0;
    }
    // Return credit once half the window has been consumed, as Go's yamux does: the peer never
    // stalls while we keep reading, and small reads do not each cost a frame.
    unacked_ += static_cast<uint32_t>(n);
    if (unacked_ >= kInitialWindow / 2 && !ended_) {
      credit = unacked_;
      recv_window_ += credit;
      unacked_ = 0;
    }
  }
  if (credit != 0) {
    session_->send_frame({FrameType::kWindowUpdate, 0, id_, credit});
  }
  return n;
}

bool Stream::read_exact(char* buffer, size_t size) {
  while (size > 0) {
    const size_t n = read(buffer, size);
    if (n == 0) return false;
    buffer += n;
    size -= n;
  }
  return true;
}

bool Stream::write(std::string_view data) {
  std::lock_guard<std::mutex> serial(write_mu_);
  while (!data.empty()) {
    size_t n = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      writable_.wait(lock, [&] { return send_window_ > 0 || local_fin_ || ended_; });
      if (local_fin_ || ended_) return false;
      n = static_cast<size_t>(std::min<uint64_t>(data.size(), send_window_));
      send_window_ -= n;
    }
    if (!session_->send_frame({FrameType::kData, 0, id_, static_cast<uint32_t>(n)},
                              data.substr(0, n))) {
      return false;
    }
    data.remove_prefix(n);
  }
  return true;
}

void Stream::close() {
  bool both = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (local_fin_ || ended_) return;
    local_fin_ = true;
    both = remote_fin_;
  }
  writable_.notify_all();
  session_->send_frame({FrameType::kWindowUpdate, kFlagFin, id_, 0});
  if (both) session_->forget(id_);
}

void Stream::reset() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
  }
  session_->send_frame({FrameType::kWindowUpdate, kFlagRst, id_, 0});
  on_end();
  session_->forget(id_);
}

void Stream::on_data(std::string_view payload) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (payload.size() > recv_window_) {
      throw ProtocolError("yamux: receive window exceeded on stream " + std::to_string(id_) +
                          " (" + std::to_string(payload.size()) + " bytes, " +
                          std::to_string(recv_window_) + " allowed)");
    }
    if (ended_ || remote_fin_) return;  // late data for a stream we no longer read: drop it
    recv_window_ -= static_cast<uint32_t>(payload.size());
    recv_.append(payload);
  }
  readable_.notify_all();
}

void Stream::on_window_update(uint32_t delta) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Saturate rather than wrap: a misbehaving peer can only give us more credit than it means.
    send_window_ = std::min<uint64_t>(send_window_ + delta, UINT32_MAX);
  }
  writable_.notify_all();
}

bool Stream::on_remote_fin() {
  bool both = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    remote_fin_ = true;
    both = local_fin_;
  }
  readable_.notify_all();
  return both;
}

void Stream::on_end() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
  }
  readable_.notify_all();
  writable_.notify_all();
}

// ---------------------------------------------------------------------------------------------

Session::Session(std::unique_ptr<Connection> connection, SessionOptions options, Logger logger)
    : connection_(std::move(connection)), options_(options), log_(std::move(logger)) {}

Session::~Session() {
  end("session destroyed");
  if (reader_thread_.joinable()) reader_thread_.join();
}

void Session::start() { reader_thread_ = std::thread([this] { read_loop(); }); }

void Session::read_loop() {
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    const ptrdiff_t n = connection_->read_some(buffer.data(), buffer.size());
    if (n <= 0) {
      end(n == 0 ? "connection closed by the client" : "connection read error");
      return;
    }
    if (!feed(std::string_view(buffer.data(), static_cast<size_t>(n)))) return;
  }
}

bool Session::feed(std::string_view bytes) {
  if (ended()) return false;
  try {
    reader_.feed(bytes);
    FrameHeader header;
    std::string payload;
    while (reader_.next(header, payload)) {
      handle_frame(header, payload);
      if (ended()) return false;
    }
  } catch (const ProtocolError& e) {
    log_.warn("yamux protocol error, closing the session", {{"error", e.what()}});
    send_frame({FrameType::kGoAway, 0, 0, kGoAwayProtocolError});
    end(e.what());
    return false;
  }
  return true;
}

void Session::handle_frame(const FrameHeader& h, std::string_view payload) {
  switch (h.type) {
    case FrameType::kData:
    case FrameType::kWindowUpdate:
      handle_stream_frame(h, payload);
      return;
    case FrameType::kPing:
      // A keepalive: echo the opaque value with ACK. Our own pings are never sent, so a Ping
      // carrying ACK needs no bookkeeping.
      if (h.flags & kFlagSyn) send_frame({FrameType::kPing, kFlagAck, 0, h.length});
      return;
    case FrameType::kGoAway:
      if (h.length == kGoAwayNormal) {
        std::lock_guard<std::mutex> lock(mu_);
        remote_go_away_ = true;
        return;
      }
      end(h.length == kGoAwayProtocolError ? "client sent GoAway: protocol error"
          : h.length == kGoAwayInternalError ? "client sent GoAway: internal error"
                                              : "client sent GoAway with an unknown code");
      return;
  }
}

void Session::handle_stream_frame(const FrameHeader& h, std::string_view payload) {
  std::shared_ptr<Stream> stream;
  if (h.flags & kFlagSyn) {
    if (h.stream_id == 0) throw ProtocolError("yamux: SYN on stream 0");
    bool refuse = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ended_) return;
      if (streams_.count(h.stream_id) != 0) {
        throw ProtocolError("yamux: duplicate stream " + std::to_string(h.stream_id));
      }
      if (streams_.size() >= options_.max_streams) {
        refuse = true;
      } else {
        stream = std::make_shared<Stream>(*this, h.stream_id);
        streams_.emplace(h.stream_id, stream);
        accept_queue_.push_back(stream);
      }
    }
    if (refuse) {
      log_.warn("yamux: too many open streams, resetting the new one",
                {{"stream", std::to_string(h.stream_id)}});
      send_frame({FrameType::kWindowUpdate, kFlagRst, h.stream_id, 0});
      return;
    }
    changed_.notify_all();
    // Acknowledge at once: a Go client gives up on the whole session when a SYN stays
    // unacknowledged for StreamOpenTimeout (75 s).
    send_frame({FrameType::kWindowUpdate, kFlagAck, h.stream_id, 0});
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = streams_.find(h.stream_id);
    if (it != streams_.end()) stream = it->second;
  }
  if (!stream) return;  // a stream we reset or forgot: its frames are dropped, as Go does

  if (h.type == FrameType::kWindowUpdate) {
    stream->on_window_update(h.length);
  } else {
    stream->on_data(payload);
  }
  if (h.flags & kFlagRst) {
    stream->on_end();
    forget(h.stream_id);
  } else if (h.flags & kFlagFin) {
    if (stream->on_remote_fin()) forget(h.stream_id);
  }
}

bool Session::send_frame(const FrameHeader& header, std::string_view payload) {
  const auto head = encode_header(header);
  bool ok = false;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (ended()) return false;
    if (payload.size() <= 4096) {
      // One write for small frames, so the header and payload leave in one segment.
      std::string frame(head.data(), head.size());
      frame.append(payload);
      ok = connection_->write_all(frame);
    } else {
      ok = connection_->write_all(std::string_view(head.data(), head.size())) &&
           connection_->write_all(payload);
    }
  }
  if (!ok) end("connection write failed");
  return ok;
}

void Session::forget(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(id);
}

void Session::end(std::string reason) {
  std::map<uint32_t, std::shared_ptr<Stream>> streams;
  std::deque<std::shared_ptr<Stream>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    ended_ = true;
    end_reason_ = std::move(reason);
    streams.swap(streams_);
    pending.swap(accept_queue_);
  }
  for (auto& [id, stream] : streams) stream->on_end();
  for (auto& stream : pending) stream->on_end();
  connection_->shutdown();
  changed_.notify_all();
}

std::shared_ptr<Stream> Session::accept() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !accept_queue_.empty() || ended_; });
  if (accept_queue_.empty()) return nullptr;
  auto stream = std::move(accept_queue_.front());
  accept_queue_.pop_front();
  return stream;
}

std::shared_ptr<Stream> Session::try_accept() {
  std::lock_guard<std::mutex> lock(mu_);
  if (accept_queue_.empty()) return nullptr;
  auto stream = std::move(accept_queue_.front());
  accept_queue_.pop_front();
  return stream;
}

void Session::close(uint32_t go_away_code) {
  send_frame({FrameType::kGoAway, 0, 0, go_away_code});
  end("closed locally");
}

void Session::wait_ended() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return ended_; });
}

bool Session::wait_ended_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return ended_; });
}

bool Session::ended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

std::string Session::end_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_reason_;
}

size_t Session::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace lockstep::plugin::yamux
