// Accepts connections on one listening socket. Created by a loop
// (EventLoop::createAcceptor) and used only on that loop's thread.
//
// Every implementation must survive EMFILE/ENFILE the same way (shed the
// pending connection, count, log once per burst, never spin: see
// core/accept_shedding.h) and hand each socket to the AcceptCallback.
#pragma once

namespace duet {

class Acceptor {
 public:
  virtual ~Acceptor() = default;
  // Begins accepting. Loop thread.
  virtual void start() = 0;
  // Stops accepting and closes the listening socket. Loop thread. Idempotent.
  virtual void stop() = 0;
};

}  // namespace duet
