// Accepts connections on one listening socket. Created by a loop
// (EventLoop::createAcceptor) and used only on that loop's thread.
//
// Every implementation must survive EMFILE/ENFILE (count it in
// LoopStats::acceptErrors, log once per burst, back off or shed the pending
// connection; never spin) and hand each socket to the AcceptCallback.
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
