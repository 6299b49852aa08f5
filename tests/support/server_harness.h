// Runs a TcpServer on its own loop thread for a test, the way an application
// would, and stops it gracefully (bounded) when the harness is destroyed.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "core/event_loop.h"
#include "core/tcp_server.h"

namespace duet::test {

class ServerHarness {
 public:
  ServerHarness(const LoopOptions& loopOptions, ServerOptions serverOptions,
                ConnectionCallbacks callbacks);
  ~ServerHarness();
  ServerHarness(const ServerHarness&) = delete;
  ServerHarness& operator=(const ServerHarness&) = delete;

  // False if the loop or the server could not start; error() says why.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const InetAddress& address() const { return address_; }
  EventLoop& loop() { return *loop_; }
  TcpServer& server() { return *server_; }

  // Runs `fn` on the base loop's thread and waits for it to finish.
  void runSync(const std::function<void()>& fn);
  // Graceful stop; waits until the server has stopped and the thread ended.
  void stop();

 private:
  std::thread thread_;
  // The loop thread keeps the loop and server alive after run() returns until
  // stop() releases them, so stop() never touches a destroyed loop.
  std::promise<void> runEnded_;
  std::shared_future<void> runEndedFuture_;
  std::promise<void> release_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TcpServer> server_;
  InetAddress address_;
  std::string error_;
};

}  // namespace duet::test
