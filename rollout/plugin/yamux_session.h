#pragma once

// The server side of a yamux session (hashicorp/yamux): accepts the streams a client opens,
// acknowledges every SYN at once, returns receive credit as the application consumes data,
// never sends beyond the peer's window, answers pings, and handles FIN, RST and GoAway.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "rollout/plugin/yamux_frame.h"

namespace lockstep::plugin::yamux {

// The byte transport under a session.
class Connection {
 public:
  virtual ~Connection() = default;
  // Writes all of `data`; false on error or timeout. Callers never interleave frames.
  virtual bool write_all(std::string_view data) = 0;
  // Blocks until some bytes arrive: their count, 0 at end of stream, negative on error.
  virtual ptrdiff_t read_some(char* buffer, size_t size) = 0;
  // Makes a blocked read_some return and further writes fail. Idempotent.
  virtual void shutdown() = 0;
};

// A connected socket. Writes give up after `write_timeout` (yamux's ConnectionWriteTimeout), so
// a peer that stops reading cannot hang the session forever.
class FdConnection final : public Connection {
 public:
  FdConnection(int fd, std::chrono::milliseconds write_timeout);  // takes ownership of fd
  ~FdConnection() override;
  FdConnection(const FdConnection&) = delete;
  FdConnection& operator=(const FdConnection&) = delete;

  bool write_all(std::string_view data) override;
  ptrdiff_t read_some(char* buffer, size_t size) override;
  void shutdown() override;

 private:
  int fd_;
};

class Session;

// One stream of a session. Reading and writing may happen on different threads; concurrent
// writers are serialised, so each write() lands contiguously. A Stream must not be used after its
// Session is destroyed (the owner joins its stream threads first).
class Stream {
 public:
  Stream(Session& session, uint32_t id) : session_(&session), id_(id) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t id() const { return id_; }
  // Blocks until data arrives; returns the bytes copied, 0 at the end (FIN, RST or session end).
  size_t read(char* buffer, size_t size);
  // False when the stream ends before `size` bytes arrive.
  bool read_exact(char* buffer, size_t size);
  // Copies what is buffered without waiting (0 when nothing is), crediting it like read().
  size_t try_read(char* buffer, size_t size);
  // Sends all of `data`, waiting for window credit as needed; false once the stream or session
  // is closed.
  bool write(std::string_view data);
  // Half-closes our direction (FIN). Idempotent.
  void close();
  // Aborts the stream in both directions (RST).
  void reset();

 private:
  friend class Session;
  // Copies up to `size` buffered bytes; `wait` blocks until there are some or the stream ends.
  size_t take(char* buffer, size_t size, bool wait);
  void on_data(std::string_view payload);  // throws ProtocolError on a window overrun
  void on_window_update(uint32_t delta);
  // Returns true when both directions are now closed.
  bool on_remote_fin();
  void on_end();  // RST received or session ended

  Session* session_;
  const uint32_t id_;
  std::mutex write_mu_;  // serialises whole write() calls on this stream
  std::mutex mu_;        // guards everything below
  std::condition_variable readable_;
  std::condition_variable writable_;
  std::string recv_;
  size_t recv_pos_ = 0;
  uint32_t recv_window_ = kInitialWindow;  // credit the peer still holds
  uint32_t unacked_ = 0;                   // bytes consumed and not yet credited back
  uint64_t send_window_ = kInitialWindow;  // credit we hold
  bool remote_fin_ = false;
  bool local_fin_ = false;
  bool ended_ = false;
};

struct SessionOptions {
  size_t max_streams = 256;  // open streams at once; a SYN beyond this is answered with RST
};

class Session {
 public:
  Session(std::unique_ptr<Connection> connection, SessionOptions options, Logger logger);
  // Ends the session and joins the reader thread.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the thread that reads frames from the connection.
  void start();
  // Processes received bytes. The reader thread calls it; tests and fuzzers may call it directly
  // instead of start(). Returns false once the session has ended.
  bool feed(std::string_view bytes);

  // Blocks until the client opens a stream; nullptr once the session has ended.
  std::shared_ptr<Stream> accept();
  // A stream already opened by the client, or nullptr, without waiting.
  std::shared_ptr<Stream> try_accept();
  // Sends GoAway(code) and ends the session.
  void close(uint32_t go_away_code = kGoAwayNormal);
  // Blocks until the session has ended (connection closed, GoAway with an error, protocol error).
  void wait_ended();
  // The same with a deadline; false when the session is still up after `timeout`.
  bool wait_ended_for(std::chrono::milliseconds timeout);
  bool ended() const;
  std::string end_reason() const;
  size_t open_streams() const;

 private:
  friend class Stream;
  bool send_frame(const FrameHeader& header, std::string_view payload = {});
  void forget(uint32_t id);
  void end(std::string reason);
  void handle_frame(const FrameHeader& header, std::string_view payload);
  void handle_stream_frame(const FrameHeader& header, std::string_view payload);
  void read_loop();

  std::unique_ptr<Connection> connection_;
  const SessionOptions options_;
  Logger log_;
  FrameReader reader_;  // used only by the feeding thread

  std::mutex write_mu_;  // serialises frames on the connection

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable changed_;
  std::map<uint32_t, std::shared_ptr<Stream>> streams_;
  std::deque<std::shared_ptr<Stream>> accept_queue_;
  bool ended_ = false;
  bool remote_go_away_ = false;
  std::string end_reason_;

  std::thread reader_thread_;
};

}  // namespace lockstep::plugin::yamux
