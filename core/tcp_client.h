// TcpClient: one outgoing connection on a loop, connected asynchronously, with
// retry and exponential back-off. Used by tests and tools.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "core/connection.h"
#include "core/event_loop.h"
#include "core/inet_address.h"

namespace duet {

struct ClientOptions {
  bool retry = true;  // on connect failure, and not after an established connection closes
  Duration initialBackoff = std::chrono::milliseconds(50);
  Duration maxBackoff = std::chrono::seconds(5);
  int maxAttempts = 0;  // 0: no limit
  bool tcpNoDelay = true;
  std::size_t highWaterMark = 4 * 1024 * 1024;
};

class TcpClient {
 public:
  TcpClient(EventLoop& loop, const InetAddress& server, ConnectionCallbacks callbacks,
            ClientOptions options = {});
  // Closes the connection if any. Call on the loop thread, or after the loop
  // stopped; from another thread, no connect-failed callback starts after the
  // destructor returns (one the loop already started may still be finishing).
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  void connect();     // any thread
  void disconnect();  // any thread: half-close the connection once output is flushed
  void stop();        // any thread: stop retrying; an established connection stays

  // Called on the loop when connecting gives up (retry off or attempts exhausted).
  // Any thread.
  void setConnectFailedCallback(std::function<void(int error)> cb);

  ConnectionPtr connection() const;
  int attempts() const;

  // State shared with in-flight callbacks, which may outlive the client.
  // Defined in tcp_client.cc; public only so its helper functions can name it.
  struct Shared;

 private:
  // Everything, the callbacks included, lives here: queued work that outlives
  // the client must never point into it.
  std::shared_ptr<Shared> shared_;
};

}  // namespace duet
