#pragma once

// hashicorp/go-plugin's netrpc server side (rpc_server.go, mux_broker.go): on one yamux session
// the client opens the control stream (net/rpc services "Control" and "Dispenser"), then the
// stdout and stderr streams, then one broker stream per Dispense, whose first four bytes are the
// little-endian broker id that the plugin echoes before serving "Plugin.*" on it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "rollout/plugin/call_pool.h"
#include "rollout/plugin/gob_decoder.h"
#include "rollout/plugin/net_rpc.h"
#include "rollout/plugin/yamux_session.h"

namespace lockstep::plugin {

struct GoPluginOptions {
  std::string plugin_name = "RpcTrafficRouterPlugin";  // the name the host dispenses
  gob::Limits limits;
  size_t call_workers = 4;         // Plugin.* calls that may run at once
  size_t max_pending_brokers = 64;  // Dispense ids issued but not yet connected
  // After Control.Quit, or once the host closes the control stream, the host closes the session
  // itself (go-plugin's RPCClient.Close); only if it has not after this long do we.
  std::chrono::milliseconds shutdown_grace{1000};
};

class GoPluginServer {
 public:
  enum class Exit { kQuit, kSessionEnded, kStopped };

  // `plugin_methods` are served as "Plugin.<Method>" on each broker stream.
  GoPluginServer(const RpcServiceTable& plugin_methods, GoPluginOptions options, Logger log);
  ~GoPluginServer();
  GoPluginServer(const GoPluginServer&) = delete;
  GoPluginServer& operator=(const GoPluginServer&) = delete;

  // Serves one client connection until Control.Quit, the end of the session, or stop(). Returns
  // after every stream thread has finished.
  Exit serve(std::unique_ptr<yamux::Connection> connection);
  // Makes serve() return (from a signal thread). Safe to call at any time, also before serve().
  void stop();

 private:
  void serve_control(std::shared_ptr<yamux::Stream> stream);
  void serve_broker(std::shared_ptr<yamux::Stream> stream);
  RpcReply dispense(const gob::Value& args);
  // Closes the session unless the host does so within the grace period. Caller holds mu_.
  void arm_shutdown_locked();

  const RpcServiceTable& plugin_methods_;
  const GoPluginOptions options_;
  Logger log_;
  RpcServiceTable control_methods_;
  CallPool pool_;

  std::mutex mu_;  // guards everything below
  yamux::Session* session_ = nullptr;
  std::set<uint32_t> pending_brokers_;
  uint32_t next_broker_id_ = 0;  // the first id handed out is 1, as MuxBroker.NextId
  bool quit_ = false;
  bool stopped_ = false;
  std::thread shutdown_timer_;  // joined by serve() before its session goes
};

}  // namespace lockstep::plugin
