// Holds on to the Connection a server reports connected, so that a test can
// look inside it from the server's loop (runSync) once the client is done.
// onConnection runs on the loop thread and the test takes the connection on
// its own thread: one mutex between the two.
#pragma once

#include <mutex>

#include "core/connection.h"

namespace duet::test {

class ConnectionCatcher {
 public:
  // Sets cb.onConnection to keep each connection as it connects (the last one
  // wins). The catcher must outlive the server.
  void catchInto(ConnectionCallbacks& cb) {
    cb.onConnection = [this](const ConnectionPtr& c) {
      std::lock_guard lock(mutex_);
      if (c->connected()) caught_ = c;
    };
  }
  // The connection kept, handed over (the catcher no longer holds it); null
  // if none has connected.
  ConnectionPtr take() {
    std::lock_guard lock(mutex_);
    return std::move(caught_);
  }

 private:
  std::mutex mutex_;
  ConnectionPtr caught_;
};

}  // namespace duet::test
